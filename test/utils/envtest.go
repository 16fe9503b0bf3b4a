package utils

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// RequireEnvtestVar names the environment variable that turns a missing
// control plane from a skip into a failure. `make test` sets it, so the full
// run can never pass by skipping its integration tests; `make test-unit`
// leaves it unset and runs only what needs no API server.
const RequireEnvtestVar = "ROLEGATE_REQUIRE_ENVTEST"

const missingAssets = "KUBEBUILDER_ASSETS is not set, so there is no kube-apiserver and etcd to test against; " +
	"run `make test` (it builds them once with hack/setup-envtest.sh) or " +
	"`KUBEBUILDER_ASSETS=$(bash hack/setup-envtest.sh) go test ./...`"

// EnvtestAvailable reports whether the envtest binaries are configured.
func EnvtestAvailable() bool {
	return os.Getenv("KUBEBUILDER_ASSETS") != ""
}

func envtestRequired() bool {
	required, _ := strconv.ParseBool(os.Getenv(RequireEnvtestVar))
	return required
}

// UseControlPlane is called by a TestMain before it starts envtest: true
// when the binaries are configured. Without them it exits the test binary
// with status 1 when RequireEnvtestVar is set, and otherwise returns false
// after saying that the tests needing the API server will skip; the suite
// then runs its tests without a control plane and those tests call
// RequireEnvtest.
func UseControlPlane() bool {
	if EnvtestAvailable() {
		return true
	}
	if envtestRequired() {
		fmt.Fprintf(os.Stderr, "FAIL: %s=1 but %s\n", RequireEnvtestVar, missingAssets)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "envtest: tests that need an API server skip: "+missingAssets)
	return false
}

// RequireEnvtest skips the test when no control plane is configured, or
// fails it when RequireEnvtestVar is set. Every test (or the fixture helper
// it starts with) that talks to the envtest API server calls it first.
func RequireEnvtest(t testing.TB) {
	t.Helper()
	if EnvtestAvailable() {
		return
	}
	if envtestRequired() {
		t.Fatalf("%s=1 but %s", RequireEnvtestVar, missingAssets)
		return
	}
	t.Skip("needs an API server: " + missingAssets)
}
