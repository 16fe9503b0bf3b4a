#!/usr/bin/env bash
# Builds kube-controller-manager, kube-scheduler, kube-proxy and kubelet from
# the Go module proxy (the wrapper module hack/cluster/kube) into a cache
# outside the repository, once, and prints that directory. etcd and
# kube-apiserver come from the envtest cache (hack/setup-envtest.sh).
# Nothing is downloaded except Go modules; later runs return at once.
set -euo pipefail

KUBE_VERSION=1.37.2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${ROLEGATE_CLUSTER_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rolegate/cluster/$KUBE_VERSION}
components=(kube-controller-manager kube-scheduler kube-proxy kubelet)

log() { echo "cluster-build: $*" >&2; }

missing=()
for c in "${components[@]}"; do
	if ! [[ -x $dir/$c ]] || ! "$dir/$c" --version 2>/dev/null | grep -q "v$KUBE_VERSION"; then
		missing+=("$c")
	fi
done
if ((${#missing[@]} == 0)); then
	echo "$dir"
	exit 0
fi

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for c in "${missing[@]}"; do
	log "building $c v$KUBE_VERSION (kubelet takes about 3 minutes on a warm Go cache, much longer cold)"
	(cd "$here/kube" && go build -trimpath -o "$tmp/$c" \
		-ldflags "-X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION" \
		"k8s.io/kubernetes/cmd/$c")
	mv -f "$tmp/$c" "$dir/$c"
done
log "cluster binaries ready in $dir"
echo "$dir"
