package controller_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"go.uber.org/zap/zapcore"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/internal/notify"
	"rolegate.dev/rolegate/test/utils"
)

var (
	cfg *rest.Config
	k8s client.Client // reads straight from the API server
	// auditLog collects the audit lines of every manager the suite starts.
	auditLog = &utils.SyncBuffer{}
	manager  *utils.Manager
	// registry holds the metrics of the running manager.
	registry *prometheus.Registry
)

func TestMain(m *testing.M) {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel())))
	// Without a control plane the fake-client tests run; the others skip
	// through newWorld.
	os.Exit(utils.RunWithControlPlane(m, func(c *rest.Config, k client.Client) (func(), error) {
		cfg, k8s = c, k
		if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: notifyNamespace}}); err != nil {
			return nil, fmt.Errorf("creating the notification namespace: %w", err)
		}
		manager = startManager()
		return manager.Stop, nil
	}))
}

func zapLevel() zapcore.Level {
	if os.Getenv("ROLEGATE_TEST_DEBUG") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

// notifyNamespace holds the Secrets of notification targets.
const notifyNamespace = "rolegate-notify"

// startManager runs the real manager, webhooks off: these tests write
// spec.requester and spec.reviewer themselves.
func startManager() *utils.Manager {
	registry = prometheus.NewRegistry()
	m, err := utils.StartManager(cfg, app.Options{AuditLog: auditLog, SkipNameValidation: true, MaxConcurrentReconciles: 2,
		MetricsRegistry: registry, NotificationNamespace: notifyNamespace,
		NotificationBackoff: &notify.Backoff{Initial: 20 * time.Millisecond, Factor: 2, Max: 100 * time.Millisecond, Attempts: 3}})
	if err != nil {
		panic(err)
	}
	return m
}

// Shared polling and assertion helpers.
var (
	eventually   = utils.Eventually
	consistently = utils.Consistently
	must         = utils.Must
	notFound     = utils.NotFound
)

const waitLong = 20 * time.Second

var worldSeq atomic.Int32

// world is one test's namespace, service account, roles and policy, with
// labels no other test's policy selects.
type world struct {
	ns, policy, sa, role, clusterRole string
}

// newWorld creates a namespace governed by a fresh policy modelled on
// SPEC.md's example. The policy offers an auto-approved ClusterRole, a Role
// that security must approve twice, and a medium Role that app-owners decide.
func newWorld(t *testing.T, mutate ...func(*accessv1alpha1.ApprovalPolicy)) *world {
	t.Helper()
	utils.RequireEnvtest(t)
	ctx := t.Context()
	n := worldSeq.Add(1)
	w := &world{
		ns:          fmt.Sprintf("team-%d", n),
		policy:      fmt.Sprintf("policy-%d", n),
		sa:          "ledger-migrator",
		role:        "db-migrator",
		clusterRole: fmt.Sprintf("rolegate-test-view-%d", n),
	}
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.ns, Labels: map[string]string{"world": w.ns}}}))
	must(t, k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: w.sa, Namespace: w.ns}}))
	rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create"}}}
	must(t, k8s.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: w.role, Namespace: w.ns}, Rules: rules}))
	must(t, k8s.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "config-editor", Namespace: w.ns}, Rules: rules}))
	must(t, k8s.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: w.clusterRole},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}}))
	p := &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: w.policy},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"world": w.ns}},
			RequiredTags: []accessv1alpha1.RequiredTag{
				{Key: "sensitivity", Values: []string{"low", "medium", "high", "critical"}},
				{Key: "owner"},
			},
			Entitlements: []accessv1alpha1.Entitlement{
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: w.clusterRole},
					MaxDuration: metav1.Duration{Duration: 8 * time.Hour}, AutoApprove: true},
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: w.role},
					MaxDuration: metav1.Duration{Duration: time.Hour}, Sensitivity: accessv1alpha1.SensitivityHigh},
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "config-editor"},
					MaxDuration: metav1.Duration{Duration: time.Hour}, Sensitivity: accessv1alpha1.SensitivityMedium},
			},
			Approvers: []accessv1alpha1.ApproverTier{
				{Name: "app-owners", RequiredApprovals: 1, MaxSensitivity: accessv1alpha1.SensitivityMedium,
					Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "payments-owners"}}},
				{Name: "security", RequiredApprovals: 2,
					Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "security-oncall"}}},
			},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	must(t, k8s.Create(ctx, p))
	t.Cleanup(func() {
		ctx := context.Background()
		_ = k8s.Delete(ctx, p)
		_ = k8s.Delete(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: w.clusterRole}})
	})
	return w
}

type requestOption func(*accessv1alpha1.AccessRequest)

func forRole(kind accessv1alpha1.RoleKind, name string) requestOption {
	return func(r *accessv1alpha1.AccessRequest) { r.Spec.RoleRef = accessv1alpha1.RoleRef{Kind: kind, Name: name} }
}

func lasting(d time.Duration) requestOption {
	return func(r *accessv1alpha1.AccessRequest) { r.Spec.Duration = metav1.Duration{Duration: d} }
}

func tagged(k, v string) requestOption {
	return func(r *accessv1alpha1.AccessRequest) { r.Spec.Tags[k] = v }
}

// request creates an AccessRequest opened by dave for the world's service
// account, for the auto-approved ClusterRole unless options say otherwise.
func (w *world) request(t *testing.T, name string, opts ...requestOption) *accessv1alpha1.AccessRequest {
	t.Helper()
	r := &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: w.sa},
			RoleRef:        accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: w.clusterRole},
			Duration:       metav1.Duration{Duration: time.Hour},
			Justification:  "investigate CHG-1234",
			Tags:           map[string]string{"sensitivity": "low", "owner": "team-ledger"},
			Requester: &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{
				Username: "dave", Groups: []string{"payments-devs", "system:authenticated"}}},
		},
	}
	for _, o := range opts {
		o(r)
	}
	must(t, k8s.Create(t.Context(), r))
	return r
}

// decide records a decision as the reviewer.
func (w *world) decide(t *testing.T, request, reviewer string, groups []string, d accessv1alpha1.DecisionType) string {
	t.Helper()
	dec := &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{GenerateName: request + "-", Namespace: w.ns},
		Spec: accessv1alpha1.AccessDecisionSpec{Request: request, Decision: d, Comment: "by " + reviewer,
			Reviewer: &accessv1alpha1.UserInfo{Username: reviewer, Groups: groups}},
	}
	must(t, k8s.Create(t.Context(), dec))
	return dec.Name
}

func (w *world) get(t *testing.T, name string) *accessv1alpha1.AccessRequest {
	t.Helper()
	r := &accessv1alpha1.AccessRequest{}
	must(t, k8s.Get(t.Context(), client.ObjectKey{Namespace: w.ns, Name: name}, r))
	return r
}

// waitReady waits until the request's Ready reason is the given one and
// returns the request.
func (w *world) waitReady(t *testing.T, name, reason string) *accessv1alpha1.AccessRequest {
	t.Helper()
	var r *accessv1alpha1.AccessRequest
	eventually(t, waitLong, func() error {
		r = &accessv1alpha1.AccessRequest{}
		if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: w.ns, Name: name}, r); err != nil {
			return err
		}
		c := meta.FindStatusCondition(r.Status.Conditions, accessv1alpha1.ConditionReady)
		if c == nil || c.Reason != reason {
			return fmt.Errorf("Ready = %+v, want reason %s; conditions %s", c, reason, describe(r.Status.Conditions))
		}
		return nil
	})
	return r
}

// bindings lists the managed RoleBindings of a request.
func (w *world) bindings(t *testing.T, request string) []rbacv1.RoleBinding {
	t.Helper()
	var list rbacv1.RoleBindingList
	must(t, k8s.List(t.Context(), &list, client.InNamespace(w.ns), client.MatchingLabels{accessv1alpha1.RequestLabel: request}))
	return list.Items
}

func (w *world) waitNoBindings(t *testing.T, request string) {
	t.Helper()
	eventually(t, waitLong, func() error {
		if n := len(w.bindings(t, request)); n != 0 {
			return fmt.Errorf("%d bindings remain for %s", n, request)
		}
		return nil
	})
}

func (w *world) binding(t *testing.T, name string) *rbacv1.RoleBinding {
	t.Helper()
	rb := &rbacv1.RoleBinding{}
	must(t, k8s.Get(t.Context(), client.ObjectKey{Namespace: w.ns, Name: name}, rb))
	return rb
}

func describe(conds []metav1.Condition) string {
	var parts []string
	for _, c := range conds {
		parts = append(parts, fmt.Sprintf("%s=%s/%s(%s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return strings.Join(parts, " ")
}

func condition(t *testing.T, r *accessv1alpha1.AccessRequest, typ string) metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(r.Status.Conditions, typ)
	if c == nil {
		t.Fatalf("condition %s missing: %s", typ, describe(r.Status.Conditions))
	}
	if c.ObservedGeneration != r.Generation {
		t.Errorf("condition %s observedGeneration = %d, want %d", typ, c.ObservedGeneration, r.Generation)
	}
	return *c
}

var (
	security = []string{"security-oncall", "system:authenticated"}
	owners   = []string{"payments-owners", "system:authenticated"}
)
