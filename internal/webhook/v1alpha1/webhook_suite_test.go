package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"go.uber.org/zap/zapcore"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/test/utils"
)

// operatorUser is the identity the manager runs as in this suite, holding
// only the generated config/rbac/role.yaml: the suite proves that RBAC is
// enough for the whole lifecycle.
const operatorUser = "system:serviceaccount:rolegate-system:rolegate-controller-manager"

var (
	env      *envtest.Environment
	admin    client.Client
	operator *rest.Config
	manager  *utils.Manager
	root     string
)

func TestMain(m *testing.M) {
	if utils.Fuzzing() || !utils.UseControlPlane() {
		// Fuzz targets and handler tests exercise the handlers alone; the
		// tests that need admission through an API server skip through
		// newTeam and as.
		os.Exit(m.Run())
	}
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	var err error
	env, _, admin, err = utils.StartControlPlane(func(e *envtest.Environment, repo string) {
		root = repo
		e.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer func() { _ = env.Stop() }()
		if err := installRBAC(); err != nil {
			fmt.Fprintln(os.Stderr, "installing RBAC:", err)
			return 1
		}
		user, err := env.AddUser(envtest.User{Name: operatorUser, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:rolegate-system"}}, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "adding the operator user:", err)
			return 1
		}
		operator = user.Config()
		manager = startManager()
		defer func() { manager.Stop() }()
		return m.Run()
	}()
	os.Exit(code)
}

// installRBAC applies the generated manager role, bound to the operator
// user, and the shipped requester and viewer roles, bound to everyone.
func installRBAC() error {
	ctx := context.Background()
	for _, f := range []string{"role.yaml", "requester_role.yaml", "viewer_role.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, "config", "rbac", f))
		if err != nil {
			return err
		}
		cr := &rbacv1.ClusterRole{}
		if err := yaml.Unmarshal(b, cr); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		cr.Labels = nil // no aggregation here: bind them directly
		if err := admin.Create(ctx, cr); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		crb := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "test-" + cr.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:authenticated"}},
		}
		if cr.Name == "manager-role" {
			crb.Subjects = []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: operatorUser}}
		}
		if err := admin.Create(ctx, crb); err != nil {
			return err
		}
	}
	return nil
}

// startManager runs the real manager, webhooks on, as the operator user.
func startManager() *utils.Manager {
	w := env.WebhookInstallOptions
	rm, err := utils.StartManager(operator, app.Options{
		SkipNameValidation: true,
		MetricsRegistry:    prometheus.NewRegistry(),
		AuditLog:           &discard{},
		Webhook: app.WebhookOptions{Enabled: true, Host: w.LocalServingHost, Port: w.LocalServingPort,
			CertDir: w.LocalServingCertDir},
	})
	if err != nil {
		panic(err)
	}
	// Admission is ready once a harmless dry-run create passes the webhooks.
	waitForWebhooks()
	return rm
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func waitForWebhooks() {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "webhook-probe"}}
	_ = admin.Create(ctx, ns)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		d := &accessv1alpha1.AccessDecision{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: ns.Name},
			Spec:       accessv1alpha1.AccessDecisionSpec{Request: "probe", Decision: accessv1alpha1.DecisionApprove},
		}
		err := admin.Create(ctx, d, client.DryRunAll)
		// The validating webhook answers "does not exist": admission is up.
		if err != nil && containsAll(err.Error(), "RequestNotFound") {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	panic("the admission webhooks did not come up")
}

// as returns a client that acts as the given user, through impersonation:
// the API server authenticates it, as it would a real user.
func as(t *testing.T, user string, groups ...string) client.Client {
	t.Helper()
	utils.RequireEnvtest(t)
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	c, err := client.New(cfg, client.Options{Scheme: app.Scheme})
	utils.Must(t, err)
	return c
}

var seq atomic.Int32

// team is a namespace governed by a policy modelled on SPEC.md's example.
type team struct {
	ns, policy string
}

func newTeam(t *testing.T, mutate ...func(*accessv1alpha1.ApprovalPolicy)) *team {
	t.Helper()
	utils.RequireEnvtest(t)
	ctx := t.Context()
	n := seq.Add(1)
	tm := &team{ns: fmt.Sprintf("payments-%d", n), policy: fmt.Sprintf("payments-%d", n)}
	utils.Must(t, admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tm.ns, Labels: map[string]string{"team": tm.ns}}}))
	utils.Must(t, admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ledger-migrator", Namespace: tm.ns}}))
	utils.Must(t, admin.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "db-migrator", Namespace: tm.ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "create"}}}}))
	p := &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: tm.policy},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": tm.ns}},
			Requesters:        []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "payments-devs"}},
			RequiredTags: []accessv1alpha1.RequiredTag{
				{Key: "type", Values: []string{"temporary", "break-glass", "recurring"}},
				{Key: "sensitivity", Values: []string{"low", "medium", "high", "critical"}},
				{Key: "owner"},
			},
			Entitlements: []accessv1alpha1.Entitlement{
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
					MaxDuration: metav1.Duration{Duration: time.Hour}, Sensitivity: accessv1alpha1.SensitivityHigh},
			},
			Approvers: []accessv1alpha1.ApproverTier{
				{Name: "app-owners", RequiredApprovals: 1, MaxSensitivity: accessv1alpha1.SensitivityMedium,
					Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "payments-owners"}}},
				{Name: "security", RequiredApprovals: 2,
					Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "security-oncall"}}},
			},
			TrustedSubmitters: []accessv1alpha1.Subject{
				{Kind: accessv1alpha1.SubjectServiceAccount, Namespace: "argocd", Name: "argocd-application-controller"}},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	utils.Must(t, admin.Create(ctx, p))
	t.Cleanup(func() { _ = admin.Delete(context.Background(), p) })
	// The manager's cache must see the policy before admission can use it.
	utils.Eventually(t, 10*time.Second, func() error {
		return as(t, "alice", "payments-devs").Create(ctx, tm.requestObject("cache-probe"), client.DryRunAll)
	})
	return tm
}

// requestObject is a valid request for Role db-migrator, without requester.
func (tm *team) requestObject(name string) *accessv1alpha1.AccessRequest {
	return &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tm.ns},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "ledger-migrator"},
			RoleRef:        accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
			Duration:       metav1.Duration{Duration: time.Hour},
			Justification:  "Run schema migration for CHG-1234",
			Tags:           map[string]string{"type": "temporary", "sensitivity": "high", "owner": "team-ledger"},
		},
	}
}

func (tm *team) decisionObject(request string, d accessv1alpha1.DecisionType) *accessv1alpha1.AccessDecision {
	return &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{GenerateName: request + "-", Namespace: tm.ns},
		Spec:       accessv1alpha1.AccessDecisionSpec{Request: request, Decision: d, Comment: "reviewed"},
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
