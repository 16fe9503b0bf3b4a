# Image URL to use all building/pushing image targets.
IMG ?= controller:latest

# CONTAINER_TOOL builds and pushes the manager image (docker or podman).
CONTAINER_TOOL ?= docker

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.DEFAULT_GOAL := help

##@ General

# The help target prints every target that has a '## description' comment,
# grouped under the '##@ Category' lines above them.
.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate the CRDs (config/crd/bases), the manager's RBAC (config/rbac/role.yaml) and the webhook configurations (config/webhook).
	$(CONTROLLER_GEN) crd paths="./api/..." output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=manager-role paths="./internal/...;./cmd/..." output:rbac:artifacts:config=config/rbac
	$(CONTROLLER_GEN) webhook paths="./internal/webhook/..." output:webhook:artifacts:config=config/webhook

.PHONY: docs
docs: manifests ## Regenerate the API reference (docs/api.md) from the CRDs.
	go run ./hack/gen-api-docs

.PHONY: generate
generate: ## Generate the DeepCopy, DeepCopyInto and DeepCopyObject methods of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (installed into bin/ on first use).
	$(GOLANGCI_LINT) run

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and apply its fixes.
	$(GOLANGCI_LINT) run --fix

.PHONY: lint-config
lint-config: golangci-lint ## Check .golangci.yml against golangci-lint's schema.
	$(GOLANGCI_LINT) config verify

# envtest-assets is a shell snippet that exports KUBEBUILDER_ASSETS: the
# caller's value if set, otherwise the directory hack/setup-envtest.sh
# prints (it builds kube-apiserver and etcd once, ~12 minutes cold).
define envtest-assets
if [ -z "$${KUBEBUILDER_ASSETS:-}" ]; then KUBEBUILDER_ASSETS="$$(bash hack/setup-envtest.sh)"; fi; \
export KUBEBUILDER_ASSETS; \
echo "KUBEBUILDER_ASSETS=$$KUBEBUILDER_ASSETS"
endef

.PHONY: envtest
envtest: ## Build (first run ~12 min) or find the envtest control plane and print KUBEBUILDER_ASSETS.
	@$(envtest-assets)

.PHONY: test-unit
test-unit: ## Run every test that needs no API server (policy tables, fake clients, CLI, renders); envtest tests skip.
	env -u KUBEBUILDER_ASSETS -u ROLEGATE_REQUIRE_ENVTEST go test ./... -timeout 5m

# ROLEGATE_REQUIRE_ENVTEST=1 turns every envtest test's skip into a failure,
# so that make test cannot pass without its integration tests.
.PHONY: test
test: manifests generate fmt vet envtest ## Run all tests: the unit tier and the envtest integration tests, with coverage in cover.out.
	@$(envtest-assets); \
	echo "ROLEGATE_REQUIRE_ENVTEST=1 go test ./... -count=1 -timeout 25m -coverprofile cover.out"; \
	ROLEGATE_REQUIRE_ENVTEST=1 go test ./... -count=1 -timeout 25m -coverprofile cover.out

BENCH_ARGS ?=
.PHONY: bench
bench: envtest ## Benchmark rolegate against the API server's unthrottled ceiling, about 15 min (BENCH_ARGS="-n 400 -clustered 100 -sustain 30s" for a quick run).
	@$(envtest-assets); go run ./test/bench $(BENCH_ARGS)

# Budgets are execution counts (Nx), about 10 s each on 2 cores. A duration
# would race Go 1.26's fuzz coordinator at the deadline, which fails a clean
# run with "context deadline exceeded" and no failing input. FUZZTIME=<N>x or
# <duration> overrides all three targets.
FUZZ_COUNT ?= 60000x
FUZZ_SELECT ?= 40000x
FUZZ_ADMISSION ?= 3000x
# Minimizing each new input for the default 60s would spend a short run's
# whole budget on one input; a failure is still reported and saved.
FUZZMINIMIZETIME ?= 300x
FUZZFLAGS = -run='^$$' -fuzzminimizetime=$(FUZZMINIMIZETIME)
.PHONY: fuzz
fuzz: ## Fuzz each target for a fixed number of executions (FUZZTIME overrides); the checked-in corpus also runs in make test.
	go test ./internal/policy/ -fuzz='^FuzzCount$$' -fuzztime=$(or $(FUZZTIME),$(FUZZ_COUNT)) $(FUZZFLAGS)
	go test ./internal/policy/ -fuzz='^FuzzSelect$$' -fuzztime=$(or $(FUZZTIME),$(FUZZ_SELECT)) $(FUZZFLAGS)
	go test ./internal/webhook/v1alpha1/ -fuzz='^FuzzAdmission$$' -fuzztime=$(or $(FUZZTIME),$(FUZZ_ADMISSION)) $(FUZZFLAGS)

# Paths whose content must match what the generators, gofmt and go mod tidy produce.
VERIFY_PATHS = api cmd config internal hack test docs/api.md go.mod go.sum

.PHONY: verify
verify: manifests generate docs fmt ## Regenerate (CRDs, RBAC, webhooks, deepcopy, API docs), format and tidy, then fail if that changed any file.
	go mod tidy
	@changed="$$(git status --porcelain --untracked-files=all -- $(VERIFY_PATHS))"; \
	if [ -n "$$changed" ]; then \
		echo "verify: FAILED - these files are modified or untracked after 'make manifests generate docs fmt' and 'go mod tidy':"; \
		echo "$$changed"; \
		git --no-pager diff --stat -- $(VERIFY_PATHS); \
		echo "verify: commit the regenerated files (or remove stray ones) and run 'make verify' again."; \
		exit 1; \
	fi; \
	echo "verify: generated code, manifests, formatting and go.mod/go.sum are up to date."

.PHONY: dev
dev: manifests ## Start an embedded control plane with CRDs, webhooks and the manager; admin kubeconfig in bin/dev/kubeconfig.
	@$(envtest-assets); \
	go run ./hack/devenv dev

.PHONY: demo
demo: manifests ## Run the scripted end-to-end demo against an embedded control plane.
	@$(envtest-assets); \
	go run ./hack/devenv demo

##@ Build

# VERSION and COMMIT are stamped into both binaries (internal/version) and
# the image labels: `manager --version`, `kubectl rolegate version`.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# Evaluated once, so that the image make e2e tests is the one make image built.
VERSION := $(VERSION)
COMMIT := $(COMMIT)
SOURCE_URL ?= https://rolegate.dev/rolegate
VERSION_LDFLAGS = -X rolegate.dev/rolegate/internal/version.Version=$(VERSION) -X rolegate.dev/rolegate/internal/version.Commit=$(COMMIT)

.PHONY: build
build: manifests generate fmt vet ## Build the manager (bin/manager) and the kubectl plugin (bin/kubectl-rolegate).
	go build -ldflags "$(VERSION_LDFLAGS)" -o bin/manager ./cmd
	@if [ -d cmd/kubectl-rolegate ]; then \
		echo "go build -ldflags ... -o bin/kubectl-rolegate ./cmd/kubectl-rolegate"; \
		go build -ldflags "$(VERSION_LDFLAGS)" -o bin/kubectl-rolegate ./cmd/kubectl-rolegate; \
	fi

# The image `make image` builds and loads; IMAGE_TAR is its tarball.
IMAGE ?= rolegate/manager:$(VERSION)
IMAGE_TAR ?= bin/rolegate-manager.tar
IMAGE_ARCH ?= $(shell go env GOARCH)
# The local cluster's containerd (make cluster) when it runs, else the default.
CLUSTER_DIR ?= /tmp/rolegate-cluster
CONTAINERD_ADDRESS ?= $(if $(wildcard $(CLUSTER_DIR)/containerd/containerd.sock),$(CLUSTER_DIR)/containerd/containerd.sock,/run/containerd/containerd.sock)

.PHONY: image
image: ## Build the manager image with no registry or engine (bin/rolegate-manager.tar) and load it into containerd when it runs.
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) go build -trimpath -ldflags "-s -w $(VERSION_LDFLAGS)" -o bin/manager-linux-$(IMAGE_ARCH) ./cmd
	cd hack/image && go run . -binary ../../bin/manager-linux-$(IMAGE_ARCH) -arch $(IMAGE_ARCH) \
		-tag $(IMAGE) -out ../../$(IMAGE_TAR) \
		-label org.opencontainers.image.version=$(VERSION) -label org.opencontainers.image.revision=$(COMMIT) \
		-label org.opencontainers.image.source=$(SOURCE_URL) -label org.opencontainers.image.title=rolegate-manager
	@if command -v ctr >/dev/null && ctr --address $(CONTAINERD_ADDRESS) version >/dev/null 2>&1; then \
		echo "ctr --address $(CONTAINERD_ADDRESS) -n k8s.io images import $(IMAGE_TAR)"; \
		ctr --address $(CONTAINERD_ADDRESS) -n k8s.io images import $(IMAGE_TAR); \
	else echo "containerd is not running at $(CONTAINERD_ADDRESS): load $(IMAGE_TAR) with ctr/docker/podman load yourself"; fi

.PHONY: image-test
image-test: ## Unit-test the image builder (hack/image, a module of its own).
	cd hack/image && go test ./... -count=1

.PHONY: run
run: manifests generate fmt vet ## Run the manager from your host against the cluster of the current kubeconfig.
	go run ./cmd $(RUN_ARGS)

.PHONY: docker-build
docker-build: ## Build the manager image (IMG, default controller:latest) with a container engine; same image as make image.
	$(CONTAINER_TOOL) build -t $(IMG) --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg SOURCE_URL=$(SOURCE_URL) .

.PHONY: docker-push
docker-push: ## Push the manager image (IMG).
	$(CONTAINER_TOOL) push $(IMG)

.PHONY: build-installer
build-installer: manifests generate ## Write dist/install.yaml: CRDs, RBAC and the manager Deployment using IMG.
	mkdir -p dist
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default > dist/install.yaml

##@ Local cluster

.PHONY: cluster
cluster: ## Start a real single-node Kubernetes here, offline (hack/cluster/up.sh); prints its kubeconfig path.
	@ROLEGATE_CLUSTER_DIR=$(CLUSTER_DIR) bash hack/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop everything make cluster started: processes, containers, mounts, iptables rules.
	@ROLEGATE_CLUSTER_DIR=$(CLUSTER_DIR) bash hack/cluster/down.sh

E2E_ARGS ?=
.PHONY: e2e
e2e: image ## Install rolegate on the make cluster node with kustomize and Helm and test it through real pods (test/e2e).
	KUBECONFIG=$(CLUSTER_DIR)/pki/admin.kubeconfig E2E_IMAGE=$(IMAGE) E2E_CONTAINERD_ADDRESS=$(CONTAINERD_ADDRESS) go test -tags e2e ./test/e2e/ -count=1 -timeout 30m -v $(E2E_ARGS)

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests ## Uninstall the CRDs (deletes every rolegate object). Use ignore-not-found=true to ignore missing objects.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: manifests ## Deploy CRDs, RBAC and the manager (IMG) to the cluster of the current kubeconfig.
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove everything deploy created. Use ignore-not-found=true to ignore missing objects.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

##@ Dependencies

## Location to install dependencies to.
LOCALBIN ?= $(CURDIR)/bin
$(LOCALBIN):
	mkdir -p $(LOCALBIN)

## Tool binaries. controller-gen is pinned in go.mod as a tool; kustomize runs
## from the module cache (v5.8.3+ needs Go 1.27).
KUBECTL ?= kubectl
CONTROLLER_GEN ?= go tool controller-gen
KUSTOMIZE_VERSION ?= v5.8.2
KUSTOMIZE ?= go run sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT = $(LOCALBIN)/golangci-lint

.PHONY: golangci-lint
golangci-lint: $(LOCALBIN) ## Install golangci-lint (GOLANGCI_LINT_VERSION) into bin/ unless that version is already there.
	@if [ "$$($(GOLANGCI_LINT) version --short 2>/dev/null)" != "$(GOLANGCI_LINT_VERSION:v%=%)" ]; then \
		echo "Installing golangci-lint $(GOLANGCI_LINT_VERSION) into $(LOCALBIN)"; \
		GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); \
	fi
