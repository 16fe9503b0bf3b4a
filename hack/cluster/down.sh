#!/usr/bin/env bash
# Stops the cluster hack/cluster/up.sh started, using only what it recorded:
# the process groups under $STATE/pids, containerd's shims (which carry its
# socket path in their command line), the CNI rules tagged with the network
# name, the mounts under $STATE and the network namespaces created since.
# kube-proxy --cleanup removes its iptables rules. Safe to run twice.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"
[[ -d $STATE ]] || { log "nothing to stop: $STATE does not exist"; exit 0; }

stop() {
	local name=$1 f=$STATE/pids/$1
	[[ -f $f ]] || return 0
	local pid
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null
		for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
		kill -KILL -- "-$pid" 2>/dev/null
		log "stopped $name (process group $pid)"
	fi
	rm -f "$f"
}

export KUBECONFIG=$KUBECONFIG_ADMIN
stop kubelet
# Containers: kill every task of the cluster's containerd, then its shims.
if [[ -S $CONTAINERD_SOCK ]]; then
	for c in $(ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
		ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1
	done
	sleep 1
	for c in $(ctr --address "$CONTAINERD_SOCK" -n k8s.io containers ls -q 2>/dev/null); do
		ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks delete -f "$c" >/dev/null 2>&1
	done
fi
stop containerd
for p in /proc/[0-9]*; do
	if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "-address $CONTAINERD_SOCK"; then
		kill -KILL "${p#/proc/}" 2>/dev/null && log "stopped containerd shim ${p#/proc/}"
	fi
done
stop kube-proxy
stop kube-scheduler
stop kube-controller-manager
stop kube-apiserver
stop etcd

bin=${ROLEGATE_CLUSTER_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rolegate/cluster/$KUBE_VERSION}
if [[ -x $bin/kube-proxy ]]; then
	"$bin/kube-proxy" --cleanup >/dev/null 2>&1 && log "kube-proxy --cleanup removed its iptables rules"
fi
# The kubelet's own chains, unless some Kubernetes had them before up.sh.
if ! [[ -f $STATE/kube-chains.before ]]; then
	for table in filter nat mangle; do
		for chain in $(iptables-save -t $table 2>/dev/null | awk -F'[: ]' '/^:KUBE-/ {print $2}'); do
			iptables-save -t $table | grep -- "-j $chain\b" | grep -v "^-A $chain " | sed 's/^-A/-D/' |
				while read -r rule; do eval "iptables -t $table $rule" 2>/dev/null; done
			iptables -t $table -F "$chain" 2>/dev/null
			iptables -t $table -X "$chain" 2>/dev/null
		done
	done
fi
# The bridge plugin's masquerade rules carry the network name in a comment.
for chain in $(iptables-save -t nat | grep -- "name: \\\\\"$CNI_NAME\\\\\"" | grep -o -- '-j CNI-[0-9a-f]*' | awk '{print $2}' | sort -u); do
	iptables-save -t nat | grep -- "-j $chain" | grep -v "^-A $chain " | sed 's/^-A/-D/' |
		while read -r rule; do eval "iptables -t nat $rule" 2>/dev/null; done
	iptables -t nat -F "$chain" 2>/dev/null
	iptables -t nat -X "$chain" 2>/dev/null
done
ip link del "$CNI_BRIDGE" 2>/dev/null && log "removed bridge $CNI_BRIDGE"
# Network namespaces containerd created for the pods.
for ns in $(ls /run/netns 2>/dev/null); do
	if ! grep -qx "$ns" "$STATE/netns.before" 2>/dev/null; then
		umount "/run/netns/$ns" 2>/dev/null
		rm -f "/run/netns/$ns"
	fi
done
# Mounts under the state directory, deepest first.
awk -v s="$STATE/" 'index($2, s) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
	umount "$m" 2>/dev/null || umount -l "$m"
done
if [[ -f $STATE/ip_forward.before ]]; then sysctl -qw "net.ipv4.ip_forward=$(cat "$STATE/ip_forward.before")"; fi
left=$(awk -v s="$STATE/" 'index($2, s) == 1' /proc/self/mounts | wc -l)
[[ $left == 0 ]] || die "$left mounts under $STATE are left; see /proc/self/mounts"
rm -rf "$STATE"
log "cluster stopped; $STATE removed"
