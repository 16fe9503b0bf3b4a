# Shared by up.sh and down.sh: where the local cluster keeps its state.
KUBE_VERSION=1.37.2
STATE=${ROLEGATE_CLUSTER_DIR:-/tmp/rolegate-cluster}
CONTAINERD_SOCK=$STATE/containerd/containerd.sock
KUBECONFIG_ADMIN=$STATE/pki/admin.kubeconfig
NODE_NAME=${ROLEGATE_NODE_NAME:-rolegate-node}
ETCD_PORT=12379
API_PORT=6443
CNI_NAME=rolegate
CNI_BRIDGE=rg0
POD_CIDR=10.88.0.0/16
SERVICE_CIDR=10.0.0.0/24

log() { echo "cluster: $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }
