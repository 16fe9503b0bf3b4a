package lint

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	sigsyaml "sigs.k8s.io/yaml"

	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/test/utils"
)

// The golden manifests: cluster/ is applied to the API server, and given
// to lint, before the cases; existing/ is applied to the API server only
// (objects created earlier, such as the request the decisions decide);
// each case is one file of rejected/, accepted/ or warned/.
const (
	goldenCluster  = "testdata/golden/cluster"
	goldenExisting = "testdata/golden/existing"
	goldenRejected = "testdata/golden/rejected/*.yaml"
	goldenAccepted = "testdata/golden/accepted/*.yaml"
	goldenWarned   = "testdata/golden/warned/*.yaml"
)

// admission is an API server with rolegate's CRDs and its admission
// webhooks, served by a real manager, and a client that writes as an
// approver of the golden policy.
type admission struct {
	c        client.Client
	warnings *utils.Warnings
}

// startAdmission starts the control plane with the generated webhook
// configurations and the manager that serves them, applies cluster/ and
// existing/, and
// waits until the webhooks answer.
func startAdmission(t *testing.T) *admission {
	t.Helper()
	utils.RequireEnvtest(t)
	env, cfg, admin, err := utils.StartControlPlane(func(e *envtest.Environment, root string) {
		e.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}}
	})
	utils.Must(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	w := env.WebhookInstallOptions
	m, err := utils.StartManager(cfg, app.Options{
		SkipNameValidation: true, MetricsRegistry: prometheus.NewRegistry(), AuditLog: io.Discard,
		Webhook: app.WebhookOptions{Enabled: true, Host: w.LocalServingHost, Port: w.LocalServingPort, CertDir: w.LocalServingCertDir},
	})
	utils.Must(t, err)
	t.Cleanup(m.Stop)

	files, err := filepath.Glob(filepath.Join(goldenCluster, "*.yaml"))
	utils.Must(t, err)
	existing, err := filepath.Glob(filepath.Join(goldenExisting, "*.yaml"))
	utils.Must(t, err)
	for _, f := range append(files, existing...) {
		for _, obj := range readObjects(t, f) {
			utils.Must(t, admin.Create(t.Context(), obj))
		}
	}
	// The cases write as an approver of golden-policy (group owners), so
	// that a decision on the cluster's request is not a self-approval.
	a := &admission{warnings: &utils.Warnings{}}
	approver := rest.CopyConfig(cfg)
	approver.Impersonate = rest.ImpersonationConfig{UserName: "golden-approver", Groups: []string{"owners", "system:masters"}}
	approver.WarningHandler = a.warnings
	a.c, err = client.New(approver, client.Options{Scheme: app.Scheme})
	utils.Must(t, err)
	// Admission is up, and its cache holds golden-policy, once an accepted
	// request passes a dry run.
	probe := readObjects(t, "testdata/golden/accepted/request-ticket.yaml")[0]
	utils.Eventually(t, 30*time.Second, func() error {
		return a.c.Create(context.Background(), probe.DeepCopy(), client.DryRunAll)
	})
	a.warnings.Take()
	return a
}

// readObjects reads the objects of a multi-document YAML file.
func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	utils.Must(t, err)
	var out []*unstructured.Unstructured
	for _, d := range strings.Split(string(data), "\n---\n") {
		obj := &unstructured.Unstructured{}
		utils.Must(t, sigsyaml.Unmarshal([]byte(d), &obj.Object))
		if len(obj.Object) > 0 {
			out = append(out, obj)
		}
	}
	return out
}

// dryRun creates the case's object as a server-side dry run with strict
// field validation, and returns the warnings and the error.
func (a *admission) dryRun(t *testing.T, path string) ([]string, error) {
	t.Helper()
	objs := readObjects(t, path)
	if len(objs) != 1 {
		t.Fatalf("%s holds %d objects, want one", path, len(objs))
	}
	err := a.c.Create(t.Context(), objs[0], client.DryRunAll, client.FieldValidation("Strict"))
	return a.warnings.Take(), err
}

// lintCase lints the case with cluster/, and returns the findings on the case's file.
func lintCase(t *testing.T, path string) []Finding {
	t.Helper()
	r := lintPaths(t, Options{}, goldenCluster, path)
	var out []Finding
	for _, f := range r.Findings {
		if f.File == path {
			out = append(out, f)
		} else {
			t.Errorf("finding on the cluster's manifests: %s", f)
		}
	}
	return out
}

// TestGoldenMatchesTheAPIServer proves lint refuses what admission refuses,
// and accepts what it accepts, with equivalent messages. Admission is a
// real API server (envtest with the CRDs of config/crd/bases) with
// rolegate's webhooks served by a real manager, holding the objects of
// cluster/; each case is a server-side dry run with strict field
// validation, and lint reads the same case with cluster/:
//   - rejected/: the server refuses it, and lint reports errors (no
//     warnings), each naming a field and the kind of problem the server
//     names (schema and CEL), or the very message the webhook gives;
//   - accepted/: both accept it without a word;
//   - warned/: both accept it, and each of lint's warnings is one the
//     server gives.
//
// Both sides read the CRDs and the policy code as they are now, so a change
// of validation markers or webhook checks changes both.
func TestGoldenMatchesTheAPIServer(t *testing.T) {
	a := startAdmission(t)
	cases := func(pattern string) []string {
		paths, err := filepath.Glob(pattern)
		utils.Must(t, err)
		if len(paths) == 0 {
			t.Fatalf("no golden manifests match %s", pattern)
		}
		return paths
	}
	for _, path := range cases(goldenRejected) {
		t.Run("rejected/"+filepath.Base(path), func(t *testing.T) { a.checkRejected(t, path) })
	}
	for _, path := range cases(goldenAccepted) {
		t.Run("accepted/"+filepath.Base(path), func(t *testing.T) {
			warnings, serverErr := a.dryRun(t, path)
			if serverErr != nil || len(warnings) > 0 {
				t.Fatalf("the API server does not accept %s silently: %v, warnings %q", path, serverErr, warnings)
			}
			if fs := lintCase(t, path); len(fs) > 0 {
				t.Fatalf("lint reports what the API server accepts silently:\n  %s", strings.Join(lines(Result{Findings: fs}), "\n  "))
			}
		})
	}
	for _, path := range cases(goldenWarned) {
		t.Run("warned/"+filepath.Base(path), func(t *testing.T) { a.checkWarned(t, path) })
	}
}

func (a *admission) checkRejected(t *testing.T, path string) {
	_, serverErr := a.dryRun(t, path)
	if serverErr == nil {
		t.Fatalf("the API server accepts %s; move it to accepted/ or fix it", path)
	}
	if !apierrors.IsInvalid(serverErr) && !apierrors.IsBadRequest(serverErr) && !apierrors.IsForbidden(serverErr) {
		t.Fatalf("the API server refuses %s for another reason than validation: %v", path, serverErr)
	}
	fs := lintCase(t, path)
	if len(fs) == 0 {
		t.Fatalf("lint accepts what the API server refuses:\n  server: %v", serverErr)
	}
	for _, f := range fs {
		if f.Severity != Error {
			t.Errorf("lint finding %q is a %s, want an error", f, f.Severity)
		}
		if !equivalent(f, serverErr.Error()) {
			t.Errorf("lint and the API server disagree on %s:\n  lint:   %s\n  server: %v", path, f, serverErr)
		}
	}
}

// equivalent reports whether the server's error says what the lint finding
// says: the same field and, for the CRD's schema, the same kind of problem
// (the text before the first colon: "Unsupported value", "Required value",
// `unknown field "spec.x"`, a CEL rule's message); for admission's
// checks, the same message.
func equivalent(f Finding, server string) bool {
	if f.Reason == ReasonSchema {
		kind, _, _ := strings.Cut(f.Message, ":")
		return strings.Contains(server, f.Field) && strings.Contains(server, kind)
	}
	return strings.Contains(server, f.Field+": ") && strings.Contains(server, f.Message)
}

func (a *admission) checkWarned(t *testing.T, path string) {
	warnings, serverErr := a.dryRun(t, path)
	if serverErr != nil || len(warnings) == 0 {
		t.Fatalf("the API server does not admit %s with warnings: %v, warnings %q", path, serverErr, warnings)
	}
	fs := lintCase(t, path)
	if len(fs) == 0 {
		t.Fatalf("lint is silent where the API server warns %q", warnings)
	}
	server := strings.Join(warnings, "\n")
	for _, f := range fs {
		if f.Severity != Warning || !strings.Contains(server, f.Field+": "+f.Message) {
			t.Errorf("lint's %s %q is not a warning the API server gives:\n  %s", f.Severity, f, server)
		}
	}
}
