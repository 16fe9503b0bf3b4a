#!/usr/bin/env bash
# Exits 0 when this machine can run the local cluster of make cluster /
# make e2e (hack/cluster/up.sh), otherwise prints one line saying what is
# missing and how to install it, and exits 1. Changes nothing.
set -uo pipefail
fail() { echo "e2e-prereqs: $*"; exit 1; }

[[ $(id -u) == 0 ]] || fail "not root: the kubelet, containerd and kube-proxy need root (run as root)"
[[ $(uname -s) == Linux ]] || fail "not Linux"
for tool in containerd:containerd ctr:containerd runc:runc iptables:iptables iptables-save:iptables ip:iproute2 ss:iproute2 setsid:util-linux curl:curl kubectl:kubectl go:golang; do
	cmd=${tool%%:*} pkg=${tool#*:}
	command -v "$cmd" >/dev/null || fail "$cmd not found: apt-get install $pkg"
done
for plugin in bridge host-local portmap loopback; do
	[[ -x /usr/lib/cni/$plugin ]] || fail "CNI plugin /usr/lib/cni/$plugin not found: apt-get install containernetworking-plugins"
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || fail "the kernel has no overlay filesystem (containerd's overlayfs snapshotter needs it)"
[[ -d /sys/fs/cgroup/cpu || -f /sys/fs/cgroup/cgroup.controllers ]] || fail "no cgroup cpu controller mounted under /sys/fs/cgroup"
iptables -t nat -L -n >/dev/null 2>&1 || fail "iptables cannot read the nat table (kernel module or CAP_NET_ADMIN missing)"
[[ -w /proc/sys/net/ipv4/ip_forward ]] || fail "cannot set net.ipv4.ip_forward (/proc/sys is read-only)"
exit 0
