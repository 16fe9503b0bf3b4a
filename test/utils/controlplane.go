package utils

import (
	"fmt"
	"path/filepath"

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
