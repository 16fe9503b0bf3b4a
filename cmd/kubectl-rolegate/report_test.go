package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/report"
	"rolegate.dev/rolegate/internal/scheme"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

func condition(t string, s metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: t, Status: s, Reason: reason, LastTransitionTime: metav1.NewTime(now)}
}

func request(ns, name, policy string, age time.Duration, conds ...metav1.Condition) *accessv1alpha1.AccessRequest {
	return &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(now.Add(-age))},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "app"},
			RoleRef:        accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "view"},
			Duration:       metav1.Duration{Duration: time.Hour},
		},
		Status: accessv1alpha1.AccessRequestStatus{Policy: policy, Conditions: conds},
	}
}

func approvalPolicy(name, team string) *accessv1alpha1.ApprovalPolicy {
	return &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}},
		},
	}
}

// fixture is two teams' namespaces: payments with an auto-approved grant,
// a reviewed and escalated grant whose binding outlived its expiry, a
// pending request and an invalid one without a policy; ledger with one
// pending request.
func fixture() []client.Object {
	granted := condition(accessv1alpha1.ConditionReady, metav1.ConditionTrue, accessv1alpha1.ReasonGranted)
	pending := []metav1.Condition{
		condition(accessv1alpha1.ConditionApproved, metav1.ConditionUnknown, accessv1alpha1.ReasonPendingApproval),
		condition(accessv1alpha1.ConditionEscalated, metav1.ConditionFalse, accessv1alpha1.ReasonFirstTier),
		condition(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonPendingApproval),
	}
	view := request("payments", "view", "payments", time.Hour,
		condition(accessv1alpha1.ConditionApproved, metav1.ConditionTrue, accessv1alpha1.ReasonAutoApproved), granted)
	migrate := request("payments", "migrate", "payments", 3*time.Hour,
		condition(accessv1alpha1.ConditionApproved, metav1.ConditionTrue, accessv1alpha1.ReasonApproved),
		condition(accessv1alpha1.ConditionEscalated, metav1.ConditionTrue, accessv1alpha1.ReasonEscalated), granted)
	migrate.Status.Approvals = []accessv1alpha1.ApprovalRecord{{Reviewer: "bob", Decision: accessv1alpha1.DecisionApprove,
		Tier: "security", Time: metav1.NewTime(now.Add(-3*time.Hour + 12*time.Minute))}}
	stray := request("payments", "stray", "", time.Hour,
		condition(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonInvalid))
	expiredBinding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "rolegate-migrate",
			Labels: map[string]string{
				accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue, accessv1alpha1.RequestLabel: "migrate"},
			Annotations: map[string]string{accessv1alpha1.ExpiresAtAnnotation: now.Add(-time.Minute).Format(time.RFC3339)}},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
	}
	unmanaged := expiredBinding.DeepCopy()
	unmanaged.Name, unmanaged.Labels = "hand-made", nil
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments", Labels: map[string]string{"team": "payments"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ledger", Labels: map[string]string{"team": "ledger"}}},
		approvalPolicy("payments", "payments"), approvalPolicy("ledger", "ledger"),
		view, migrate, stray, expiredBinding, unmanaged,
		request("payments", "drop", "payments", 2*time.Hour, pending...),
		request("ledger", "ledger-read", "ledger", 5*time.Hour, pending...),
	}
}

func fakeClient() client.Client {
	return fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(fixture()...).Build()
}

// fakeFactory hands out a fake client and a fixed current namespace.
type fakeFactory struct {
	c      client.Client
	ns     string
	called bool
}

func (f *fakeFactory) Client() (client.Client, error) { f.called = true; return f.c, nil }
func (f *fakeFactory) Namespace() (string, error)     { return f.ns, nil }

func runReport(t *testing.T, f clientFactory, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newReportCmd(f, genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}, clock)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestReportPrintsOneRowPerPolicyAndATotal(t *testing.T) {
	out, _, err := runReport(t, &fakeFactory{c: fakeClient(), ns: "payments"})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"POLICY     REQUESTS   APPROVED   DENIED   PENDING   ACTIVE   OVERDUE   APPROVAL-P50   BREAK-GLASS   UNREVIEWED",
		"payments   3          2          0        1         2        1         0s             0             0",
		"(none)     1          0          0        0         0        0         -              0             0",
		"TOTAL      4          2          0        1         2        1         0s             0             0",
		"",
	}, "\n")
	if out != want {
		t.Errorf("table:\n%s\nwant:\n%s", out, want)
	}

	out, _, err = runReport(t, &fakeFactory{c: fakeClient(), ns: "payments"}, "-o", "wide")
	if err != nil {
		t.Fatal(err)
	}
	want = strings.Join([]string{
		"POLICY     REQUESTS   APPROVED   DENIED   TIMED-OUT   INVALID   ESCALATED   ESC-RATE   APPROVAL-P50   APPROVAL-P95   ACTIVE   OVERDUE   PENDING   OLDEST-PENDING   BREAK-GLASS   UNREVIEWED   BG-ACK-P50",
		"payments   3          2          0        0           0         1           50%        0s             12m            2        1         1         2h               0             0            -",
		"(none)     1          0          0        0           1         0           -          -              -              0        0         0         -                0             0            -",
		"TOTAL      4          2          0        0           1         1           50%        0s             12m            2        1         1         2h               0             0            -",
		"",
	}, "\n")
	if out != want {
		t.Errorf("wide table:\n%s\nwant:\n%s", out, want)
	}
}

// breakGlassRequest is a break-glass grant of Role/db-migrator in ns, made
// age ago by carol, that tier app-owners has not acknowledged yet.
func breakGlassRequest(ns, name string, age time.Duration) *accessv1alpha1.AccessRequest {
	r := request(ns, name, ns, age,
		condition(accessv1alpha1.ConditionApproved, metav1.ConditionTrue, accessv1alpha1.ReasonBreakGlass),
		condition(accessv1alpha1.ConditionBreakGlass, metav1.ConditionTrue, accessv1alpha1.ReasonBreakGlass),
		condition(accessv1alpha1.ConditionReviewed, metav1.ConditionFalse, accessv1alpha1.ReasonReviewPending),
		condition(accessv1alpha1.ConditionReady, metav1.ConditionTrue, accessv1alpha1.ReasonGranted))
	r.Spec.RoleRef = accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"}
	r.Spec.Requester = &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{Username: "carol"}}
	r.Status.Tier = "app-owners"
	r.Status.GrantedAt = &r.CreationTimestamp
	return r
}

func TestReportListsUnreviewedBreakGlassBeforeTheTable(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(append(fixture(),
		breakGlassRequest("payments", "hotfix", 40*time.Minute),
		breakGlassRequest("ledger", "ledger-hotfix", 2*time.Hour))...).Build()

	out, _, err := runReport(t, &fakeFactory{c: c, ns: "payments"})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"UNREVIEWED BREAK-GLASS: 1 grant(s) given without approval that no reviewer has acknowledged yet.",
		"A reviewer of the TIER shown, or of a later tier, acknowledges each with: kubectl rolegate ack NAME -n NAMESPACE -m COMMENT",
		"REQUEST           POLICY     SERVICEACCOUNT   ROLE               REQUESTER   TIER         GRANTED-AT             SINCE-GRANT",
		"payments/hotfix   payments   payments/app     Role/db-migrator   carol       app-owners   2026-05-01T11:20:00Z   40m",
		"",
		"POLICY     REQUESTS   APPROVED   DENIED   PENDING   ACTIVE   OVERDUE   APPROVAL-P50   BREAK-GLASS   UNREVIEWED",
		"payments   4          3          0        1         3        1         0s             1             1",
		"(none)     1          0          0        0         0        0         -              0             0",
		"TOTAL      5          3          0        1         3        1         0s             1             1",
		"",
	}, "\n")
	if out != want {
		t.Errorf("table:\n%s\nwant:\n%s", out, want)
	}

	// -A lists every namespace's, longest since grant first, also as JSON.
	out, _, err = runReport(t, &fakeFactory{c: c}, "-A", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var names []string
	for _, bg := range rep.UnreviewedBreakGlassRequests {
		names = append(names, bg.Namespace+"/"+bg.Name)
	}
	if strings.Join(names, ",") != "ledger/ledger-hotfix,payments/hotfix" || rep.Total.UnreviewedBreakGlass != 2 {
		t.Errorf("unreviewed break-glass %v (total %d), want ledger/ledger-hotfix,payments/hotfix (2)", names, rep.Total.UnreviewedBreakGlass)
	}
}

func TestReportRejectsUnsupportedOutput(t *testing.T) {
	f := &fakeFactory{c: fakeClient(), ns: "payments"}
	_, _, err := runReport(t, f, "-o", "yaml")
	if err == nil || !strings.Contains(err.Error(), `unsupported output format "yaml"`) ||
		!strings.Contains(err.Error(), "supported formats: table, wide, json") {
		t.Fatalf("err = %v, want one naming yaml and the supported formats", err)
	}
	if f.called {
		t.Error("the cluster was contacted before the flags were checked")
	}
}

func TestReportRejectsNegativeSince(t *testing.T) {
	if _, _, err := runReport(t, &fakeFactory{c: fakeClient()}, "--since", "-1h"); err == nil ||
		!strings.Contains(err.Error(), "--since must not be negative") {
		t.Fatalf("err = %v", err)
	}
}

// kubeconfig writes a kubeconfig whose current context's namespace is payments.
func kubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: admin, user: {token: secret}}]
contexts:
- {name: test, context: {cluster: test, user: admin, namespace: payments}}
- {name: ledger, context: {cluster: test, user: admin, namespace: ledger}}
current-context: test
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReportScope runs the whole binary's command line against a fake
// cluster: the kubectl connection flags pick the namespace and the user.
func TestReportScope(t *testing.T) {
	tests := []struct {
		name          string
		args          []string
		wantNamespace string
		wantRows      string
		wantRequests  int
	}{
		{name: "the kubeconfig context's namespace is the default scope", args: nil,
			wantNamespace: "payments", wantRows: "payments,(none)", wantRequests: 4},
		{name: "--context switches to that context's namespace", args: []string{"--context", "ledger"},
			wantNamespace: "ledger", wantRows: "ledger", wantRequests: 1},
		{name: "-n chooses the namespace", args: []string{"-n", "ledger"},
			wantNamespace: "ledger", wantRows: "ledger", wantRequests: 1},
		{name: "-A reports every namespace", args: []string{"-A"},
			wantNamespace: "", wantRows: "ledger,payments,(none)", wantRequests: 5},
		{name: "-A wins over -n, as in kubectl", args: []string{"-A", "-n", "ledger"},
			wantNamespace: "", wantRows: "ledger,payments,(none)", wantRequests: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			var cfg *rest.Config
			root := newRootCmd(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}, rootOptions{
				now: clock,
				newClient: func(c *rest.Config) (client.Client, error) {
					cfg = c
					return fakeClient(), nil
				},
			})
			args := append([]string{"--kubeconfig", kubeconfig(t), "--as", "alice", "--as-group", "payments-owners",
				"report", "-o", "json"}, tt.args...)
			root.SetArgs(args)
			if err := root.Execute(); err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			var rep report.Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			var rows []string
			for _, r := range rep.Policies {
				rows = append(rows, r.Policy)
			}
			if rep.Namespace != tt.wantNamespace || strings.Join(rows, ",") != tt.wantRows || rep.Total.Requests != tt.wantRequests {
				t.Errorf("namespace %q rows %v requests %d; want %q %s %d",
					rep.Namespace, rows, rep.Total.Requests, tt.wantNamespace, tt.wantRows, tt.wantRequests)
			}
			if cfg == nil || cfg.Host != "https://127.0.0.1:6443" || cfg.Impersonate.UserName != "alice" ||
				strings.Join(cfg.Impersonate.Groups, ",") != "payments-owners" {
				t.Errorf("REST config does not follow the kubectl flags: %+v", cfg)
			}
		})
	}
}

func TestRunPrintsErrorsAndExitsOne(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"report", "-o", "yaml"}, genericiooptions.IOStreams{Out: &out, ErrOut: &errOut},
		rootOptions{newClient: func(*rest.Config) (client.Client, error) { return nil, errors.New("unreachable") }})
	if code != 1 || !strings.HasPrefix(errOut.String(), `error: unsupported output format "yaml"`) {
		t.Errorf("code %d, stderr %q", code, errOut.String())
	}
}
