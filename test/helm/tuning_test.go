package helm_test

import "testing"

// TestControllerTuningValues: the controller.* values reach the manager as
// flags, and leaving them empty passes none (the binary's defaults apply,
// as with kustomize).
func TestControllerTuningValues(t *testing.T) {
	a := managerArgs(t, mustRender(t, "rolegate", "rolegate-system", nil).deployment(t))
	for _, k := range []string{"max-concurrent-reconciles", "kube-api-qps", "kube-api-burst"} {
		if v, ok := a[k]; ok {
			t.Errorf("default values pass --%s=%s; they should leave the manager's default", k, v)
		}
	}
	vals := map[string]any{"controller": map[string]any{"workers": 32, "kubeAPIQPS": 300.5, "kubeAPIBurst": 600}}
	a = managerArgs(t, mustRender(t, "rolegate", "rolegate-system", vals).deployment(t))
	for k, want := range map[string]string{"max-concurrent-reconciles": "32", "kube-api-qps": "300.5", "kube-api-burst": "600"} {
		if got := a[k]; got != want {
			t.Errorf("--%s=%q, want %q", k, got, want)
		}
	}
	if _, err := renderChart(t, "rolegate", "rolegate-system", map[string]any{"controller": map[string]any{"workers": 0}}); err == nil {
		t.Error("controller.workers: 0 rendered; the schema should refuse it")
	}
}
