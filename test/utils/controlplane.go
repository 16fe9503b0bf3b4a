package utils

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"rolegate.dev/rolegate/internal/app"
)

// StartControlPlane starts kube-apiserver and etcd with rolegate's CRDs
// installed and returns the environment, its config and a client that reads
// straight from the API server. edit, when not nil, adjusts the environment
// before it starts (root is the repository root). Suites call it only when
// UseControlPlane says so.
func StartControlPlane(edit func(env *envtest.Environment, root string)) (*envtest.Environment, *rest.Config, client.Client, error) {
	if !EnvtestAvailable() {
		return nil, nil, nil, fmt.Errorf("%s", missingAssets)
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, nil, nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	if edit != nil {
		edit(env, root)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("starting envtest: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: app.Scheme})
	if err != nil {
		_ = env.Stop()
		return nil, nil, nil, fmt.Errorf("creating client: %w", err)
	}
	return env, cfg, c, nil
}

// RunWithControlPlane runs a package's tests from its TestMain and returns
// the exit code for os.Exit. Without a control plane (see UseControlPlane)
// the tests run as they are, and those that need one skip through
// RequireEnvtest. With one, it starts kube-apiserver and etcd with
// rolegate's CRDs, calls setup with their config and client, runs the
// tests, calls the teardown setup returned (when not nil) and stops the
// control plane. A failed start or setup fails the run with its reason.
func RunWithControlPlane(m *testing.M, setup func(cfg *rest.Config, k client.Client) (teardown func(), err error)) int {
	if !UseControlPlane() {
		return m.Run()
	}
	env, cfg, k, err := StartControlPlane(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	teardown, err := setup(cfg, k)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if teardown != nil {
		defer teardown()
	}
	return m.Run()
}
