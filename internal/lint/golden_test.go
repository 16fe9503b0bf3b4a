package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"

	"rolegate.dev/rolegate/test/utils"
)

// TestGoldenMatchesTheAPIServer proves lint refuses what the API server
// refuses, and accepts what it accepts: every manifest under
// testdata/golden/rejected is refused by lint with a schema error and by a
// real API server (envtest with the CRDs of config/crd/bases, a server-side
// dry run with strict field validation) with an error naming the same field
// and the same kind of problem; every manifest under accepted passes both.
// Both sides read the CRDs as generated now, so a change of validation
// markers changes both.
func TestGoldenMatchesTheAPIServer(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set; run `make test` (it builds kube-apiserver and etcd once)")
	}
	env, _, c, err := utils.StartControlPlane(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	utils.Must(t, c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "golden",
		Labels: map[string]string{"team": "golden"}}}))

	dryRun := func(t *testing.T, path string) error {
		t.Helper()
		data, err := os.ReadFile(path)
		utils.Must(t, err)
		obj := &unstructured.Unstructured{}
		utils.Must(t, sigsyaml.Unmarshal(data, &obj.Object))
		return c.Create(t.Context(), obj, client.DryRunAll, client.FieldValidation("Strict"))
	}

	rejected, err := filepath.Glob("testdata/golden/rejected/*.yaml")
	utils.Must(t, err)
	if len(rejected) == 0 {
		t.Fatal("no golden manifests under testdata/golden/rejected")
	}
	for _, path := range rejected {
		t.Run("rejected/"+filepath.Base(path), func(t *testing.T) {
			serverErr := dryRun(t, path)
			if serverErr == nil {
				t.Fatalf("the API server accepts %s; move it to accepted/ or fix it", path)
			}
			if !apierrors.IsInvalid(serverErr) && !apierrors.IsBadRequest(serverErr) {
				t.Fatalf("the API server refuses %s for another reason than validation: %v", path, serverErr)
			}
			r := lintPaths(t, Options{}, path)
			var errs []Finding
			for _, f := range r.Findings {
				if f.Severity == Error {
					errs = append(errs, f)
				}
			}
			if len(errs) == 0 {
				t.Fatalf("lint accepts what the API server refuses:\n  server: %v\n  lint: %q", serverErr, lines(r))
			}
			for _, f := range errs {
				if f.Reason != ReasonSchema {
					t.Errorf("lint finding %q has reason %s, want %s", f, f.Reason, ReasonSchema)
				}
				// The same field, and the same kind of problem: the text
				// before the first colon ("Unsupported value", "Required
				// value", `unknown field "spec.x"`, a CEL rule's message).
				kind, _, _ := strings.Cut(f.Message, ":")
				if !strings.Contains(serverErr.Error(), f.Field) || !strings.Contains(serverErr.Error(), kind) {
					t.Errorf("lint and the API server disagree on %s:\n  lint:   %s\n  server: %v", path, f, serverErr)
				}
			}
		})
	}

	accepted, err := filepath.Glob("testdata/golden/accepted/*.yaml")
	utils.Must(t, err)
	for _, path := range accepted {
		t.Run("accepted/"+filepath.Base(path), func(t *testing.T) {
			if err := dryRun(t, path); err != nil {
				t.Fatalf("the API server refuses %s: %v", path, err)
			}
		})
	}
	r := lintPaths(t, Options{NamespaceLabels: map[string]map[string]string{"golden": {"team": "golden"}}}, "testdata/golden/accepted")
	if r.Errors() != 0 || r.Objects != len(accepted) {
		t.Errorf("lint of accepted/: %d errors over %d objects, want 0 over %d:\n  %s",
			r.Errors(), r.Objects, len(accepted), strings.Join(lines(r), "\n  "))
	}
}
