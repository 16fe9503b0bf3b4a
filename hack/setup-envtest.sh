#!/usr/bin/env bash
# Builds the envtest control-plane binaries (kube-apiserver and etcd) from the
# Go module proxy into a cache outside the repository, once, and prints the
# directory to use as KUBEBUILDER_ASSETS. Nothing is downloaded except Go
# modules; later runs find the binaries and return at once.
set -euo pipefail

KUBE_VERSION=1.37.2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
etcd_version=$(awk '$1 == "require" && $2 == "go.etcd.io/etcd/server/v3" {print $3}' "$here/envtest/etcd/go.mod")
dir=${ROLEGATE_ENVTEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rolegate/envtest/$KUBE_VERSION-etcd$etcd_version}

log() { echo "setup-envtest: $*" >&2; }

if [[ -x $dir/kube-apiserver && -x $dir/etcd ]] &&
	"$dir/kube-apiserver" --version 2>/dev/null | grep -q "v$KUBE_VERSION" &&
	"$dir/etcd" --version >/dev/null 2>&1; then
	echo "$dir"
	exit 0
fi

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if ! [[ -x $dir/etcd ]] || ! "$dir/etcd" --version >/dev/null 2>&1; then
	log "building etcd $etcd_version (about 2 minutes on a cold Go cache)"
	(cd "$here/envtest/etcd" && go build -trimpath -o "$tmp/etcd" .)
	mv -f "$tmp/etcd" "$dir/etcd"
fi

if ! [[ -x $dir/kube-apiserver ]] || ! "$dir/kube-apiserver" --version 2>/dev/null | grep -q "v$KUBE_VERSION"; then
	log "building kube-apiserver v$KUBE_VERSION (about 10 minutes on a cold Go cache)"
	(cd "$here/envtest/kube-apiserver" && go build -trimpath -o "$tmp/kube-apiserver" \
		-ldflags "-X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION" \
		k8s.io/kubernetes/cmd/kube-apiserver)
	mv -f "$tmp/kube-apiserver" "$dir/kube-apiserver"
fi

log "envtest assets ready in $dir"
echo "$dir"
