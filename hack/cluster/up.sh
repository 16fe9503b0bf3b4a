#!/usr/bin/env bash
# Starts a real single-node Kubernetes on this machine, offline: etcd and
# kube-apiserver from the envtest cache (hack/setup-envtest.sh), the other
# components built by hack/cluster/build.sh, Debian's containerd, runc and
# CNI plugins, and a locally built pause image. Every process runs in its own
# process group whose id is recorded under $STATE/pids; hack/cluster/down.sh
# stops them by that id. Prints the admin kubeconfig path on stdout.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

bash "$repo/hack/e2e-prereqs.sh" >&2 || die "prerequisites missing (see above)"
if [[ -d $STATE/pids ]] && compgen -G "$STATE/pids/*" >/dev/null; then
	for f in "$STATE"/pids/*; do
		if kill -0 "$(cat "$f")" 2>/dev/null; then
			die "a cluster already runs from $STATE ($(basename "$f") is alive); run make cluster-down first"
		fi
	done
fi

envtest=$(bash "$repo/hack/setup-envtest.sh")
bin=$(bash "$here/build.sh")
node_ip=${ROLEGATE_NODE_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}')}
[[ -n $node_ip ]] || die "cannot tell this machine's address; set ROLEGATE_NODE_IP"
for port in $ETCD_PORT $API_PORT 10250 10257 10259; do
	if ss -ltn "sport = :$port" | grep -q LISTEN; then die "port $port is in use; stop what listens there"; fi
done

mkdir -p "$STATE"/{pids,logs,etcd,kubelet,cni/net.d,cni/ipam,containerd}
echo "$(cat /proc/sys/net/ipv4/ip_forward)" >"$STATE/ip_forward.before"
if iptables-save 2>/dev/null | grep -q '^:KUBE-'; then touch "$STATE/kube-chains.before"; fi
ls /run/netns 2>/dev/null >"$STATE/netns.before" || true
sysctl -qw net.ipv4.ip_forward=1

# start NAME CMD...: runs CMD in a new session (so its process group id is
# its pid), logs to $STATE/logs/NAME.log, records the pid. The pid is
# written from inside the new session, before exec: setsid forks when its
# caller leads a process group, and $! would then name the wrong process.
start() {
	local name=$1
	shift
	rm -f "$STATE/pids/$name"
	setsid bash -c 'echo $$ >"$0"; exec "$@"' "$STATE/pids/$name" "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
	for ((i = 0; i < 50; i++)); do [[ -s $STATE/pids/$name ]] && break; sleep 0.1; done
	[[ -s $STATE/pids/$name ]] || die "$name did not start; see $STATE/logs/$name.log"
	log "started $name (pid $(cat "$STATE/pids/$name"), log $STATE/logs/$name.log)"
}

wait_for() {
	local what=$1 tries=$2
	shift 2
	for ((i = 0; i < tries; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 1
	done
	die "$what not ready after ${tries}s; see $STATE/logs"
}

log "certificates and kubeconfigs in $STATE/pki"
(cd "$repo" && go run ./hack/cluster/pki -dir "$STATE/pki" -node-ip "$node_ip" -node-name "$NODE_NAME" \
	-server "https://$node_ip:$API_PORT")
pki=$STATE/pki

cat >"$STATE/containerd/config.toml" <<TOML
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
TOML
cat >"$STATE/cni/net.d/10-$CNI_NAME.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NAME",
  "plugins": [
    {"type": "bridge", "bridge": "$CNI_BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam", "ranges": [[{"subnet": "$POD_CIDR"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
start containerd containerd --config "$STATE/containerd/config.toml"
wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version

log "building and importing the pause image"
CGO_ENABLED=0 go -C "$repo/hack/image" build -trimpath -ldflags "-s -w" -o "$STATE/pause" ./pause
go -C "$repo/hack/image" run . -binary "$STATE/pause" -path /pause -tag registry.k8s.io/pause:3.10 \
	-out "$STATE/pause.tar" -ca-bundle= -label org.opencontainers.image.title=pause >/dev/null
ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$STATE/pause.tar" >/dev/null

start etcd "$envtest/etcd" --data-dir "$STATE/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
	--advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls http://127.0.0.1:12380 \
	--initial-advertise-peer-urls http://127.0.0.1:12380 --initial-cluster default=http://127.0.0.1:12380 \
	--unsafe-no-fsync
wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

start kube-apiserver "$envtest/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
	--bind-address 0.0.0.0 --secure-port "$API_PORT" --advertise-address "$node_ip" \
	--service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true \
	--authorization-mode Node,RBAC --client-ca-file "$pki/ca.crt" \
	--tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
	--kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
	--kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
	--service-account-issuer https://kubernetes.default.svc.cluster.local \
	--service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
	--enable-aggregator-routing=true
export KUBECONFIG=$KUBECONFIG_ADMIN
wait_for kube-apiserver 90 kubectl get --raw /readyz

start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig "$pki/controller-manager.kubeconfig" \
	--authentication-kubeconfig "$pki/controller-manager.kubeconfig" --authorization-kubeconfig "$pki/controller-manager.kubeconfig" \
	--bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
	--service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
	--cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
	--service-cluster-ip-range "$SERVICE_CIDR"
start kube-scheduler "$bin/kube-scheduler" --kubeconfig "$pki/scheduler.kubeconfig" \
	--authentication-kubeconfig "$pki/scheduler.kubeconfig" --authorization-kubeconfig "$pki/scheduler.kubeconfig" \
	--bind-address 127.0.0.1 --leader-elect=false

cat >"$STATE/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
clientConnection:
  kubeconfig: $pki/proxy.kubeconfig
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
YAML
start kube-proxy "$bin/kube-proxy" --config "$STATE/kube-proxy.yaml"

cat >"$STATE/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
address: $node_ip
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
clusterDomain: cluster.local
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%"}
serializeImagePulls: false
YAML
start kubelet "$bin/kubelet" --config "$STATE/kubelet.yaml" --kubeconfig "$pki/kubelet.kubeconfig" \
	--root-dir "$STATE/kubelet" --node-ip "$node_ip" --hostname-override "$NODE_NAME"

wait_for "node $NODE_NAME" 120 kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s
wait_for "default service account" 60 kubectl get serviceaccount default -n default
log "cluster ready: export KUBECONFIG=$KUBECONFIG_ADMIN"
echo "$KUBECONFIG_ADMIN"
