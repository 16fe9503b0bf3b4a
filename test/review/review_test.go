// Package review_test runs rolegate's real manager, on a fake clock,
// against a real API server through a policy's review cycle: due, overdue,
// new grants held back while active ones continue, and an attestation that
// resumes them.
package review_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/test/utils"
)

var (
	cfg *rest.Config
	k8s client.Client
)

func TestMain(m *testing.M) {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.DPanicLevel)))
	os.Exit(utils.RunWithControlPlane(m, func(c *rest.Config, k client.Client) (func(), error) {
		cfg, k8s = c, k
		return nil, nil
	}))
}

const (
	ns = "payments"
	// every is short because the API server stamps grants and
	// attestations on the real clock: the fake clock stays within a grant's
	// 8h of them.
	every      = 3 * time.Hour
	view       = "review-view"
	wait       = 20 * time.Second
	policyName = "payments"
)

var owners = []string{"payments-owners", "system:authenticated"}

func TestReviewDueOverdueSuspendedAndResumedByAnAttestation(t *testing.T) {
	utils.RequireEnvtest(t)
	ctx := t.Context()
	seed(t)
	p := &accessv1alpha1.ApprovalPolicy{}
	utils.Must(t, k8s.Get(ctx, client.ObjectKey{Name: policyName}, p))
	created := p.CreationTimestamp.Time
	clk := clocktesting.NewFakeClock(created)
	reg := prometheus.NewRegistry()
	m, err := utils.StartManager(cfg, app.Options{AuditLog: &utils.SyncBuffer{}, SkipNameValidation: true,
		MetricsRegistry: reg, Clock: clk})
	utils.Must(t, err)
	t.Cleanup(m.Stop)

	// A new policy is current: its first review is due every after creation.
	waitPolicy(t, "current", func(p *accessv1alpha1.ApprovalPolicy) error {
		if p.Status.ReviewDueAt == nil || !p.Status.ReviewDueAt.Time.Equal(created.Add(every)) {
			return fmt.Errorf("reviewDueAt = %v, want %s", p.Status.ReviewDueAt, created.Add(every))
		}
		return wantConditions(p, metav1.ConditionFalse, metav1.ConditionFalse)
	})

	// A third of the period (1h) before it is due, the review opens.
	clk.SetTime(created.Add(every - 30*time.Minute))
	poke(t)
	waitPolicy(t, "due", func(p *accessv1alpha1.ApprovalPolicy) error {
		if err := wantConditions(p, metav1.ConditionTrue, metav1.ConditionFalse); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(p.Status.Conditions, accessv1alpha1.ConditionReviewDue); !strings.Contains(c.Message,
			"kubectl rolegate attest "+policyName) || !strings.Contains(c.Message, "tier app-owners") {
			return fmt.Errorf("ReviewDue message %q does not say who attests and how", c.Message)
		}
		return nil
	})

	// A grant made a minute before the due time stays when the review becomes overdue.
	clk.SetTime(created.Add(every - time.Minute))
	request(t, "before-due")
	waitReady(t, "before-due", accessv1alpha1.ReasonGranted)

	clk.SetTime(created.Add(every))
	poke(t)
	waitPolicy(t, "overdue", func(p *accessv1alpha1.ApprovalPolicy) error {
		return wantConditions(p, metav1.ConditionTrue, metav1.ConditionTrue)
	})
	if got := gauge(t, reg, metrics.PolicyReviewOverdue); got != 1 {
		t.Errorf("%s = %v while overdue, want 1", metrics.PolicyReviewOverdue, got)
	}
	held := waitReady(t, "after-due", accessv1alpha1.ReasonReviewOverdue, request)
	if c := meta.FindStatusCondition(held.Status.Conditions, accessv1alpha1.ConditionReady); !strings.Contains(c.Message,
		"kubectl rolegate attest "+policyName) {
		t.Errorf("held request's message %q does not say how to resume it", c.Message)
	}
	if n := bindings(t, "after-due"); n != 0 {
		t.Fatalf("a held request has %d RoleBindings, want none", n)
	}
	if r := get(t, "before-due"); readyReason(r) != accessv1alpha1.ReasonGranted || bindings(t, "before-due") != 1 {
		t.Fatalf("the active grant did not continue: Ready %s, %d bindings", readyReason(r), bindings(t, "before-due"))
	}

	// Someone outside the reviewing tier attests: it does not count.
	forged := attest(t, "mallory", []string{"payments-devs"})
	waitCounted(t, forged, accessv1alpha1.ReasonNotEligible)
	if readyReason(get(t, "after-due")) != accessv1alpha1.ReasonReviewOverdue {
		t.Fatalf("an attestation that did not count resumed grants")
	}

	// An owner attests: the review is renewed and the held request is granted.
	good := attest(t, "bob", owners)
	waitCounted(t, good, accessv1alpha1.ReasonAttested)
	waitPolicy(t, "attested", func(p *accessv1alpha1.ApprovalPolicy) error {
		if p.Status.LastReviewedBy != "bob" || p.Status.LastReviewed == nil {
			return fmt.Errorf("lastReviewed %v by %q, want bob's attestation", p.Status.LastReviewed, p.Status.LastReviewedBy)
		}
		return wantCondition(p, accessv1alpha1.ConditionReviewOverdue, metav1.ConditionFalse)
	})
	waitReady(t, "after-due", accessv1alpha1.ReasonGranted)
	if got := gauge(t, reg, metrics.PolicyReviewOverdue); got != 0 {
		t.Errorf("%s = %v after the attestation, want 0", metrics.PolicyReviewOverdue, got)
	}
}

// seed creates the namespace, the grantee, a ClusterRole and the policy:
// auto-approved access to the ClusterRole, reviewed every 3h by the
// app-owners tier, new grants suspended when overdue.
func seed(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	utils.Must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": ns}}}))
	utils.Must(t, k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "worker", Namespace: ns}}))
	utils.Must(t, k8s.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: view},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}}))
	utils.Must(t, k8s.Create(ctx, &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: policyName},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": ns}},
			Entitlements: []accessv1alpha1.Entitlement{{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: view},
				MaxDuration: metav1.Duration{Duration: 8 * time.Hour}, AutoApprove: true}},
			Approvers: []accessv1alpha1.ApproverTier{{Name: "app-owners", RequiredApprovals: 1,
				Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "payments-owners"}}}},
			Review: &accessv1alpha1.PolicyReview{Every: metav1.Duration{Duration: every},
				Reviewers: accessv1alpha1.PolicyReviewers{Tier: "app-owners"}, OnOverdue: accessv1alpha1.OverdueSuspendNewGrants},
		},
	}))
	// Attestations count only when made after the policy was created;
	// creation times have whole seconds.
	time.Sleep(time.Second)
}

// poke makes the controllers look at the policy again after the fake clock
// moved: its RequeueAfter runs on the real clock.
func poke(t *testing.T) {
	t.Helper()
	utils.Eventually(t, wait, func() error {
		p := &accessv1alpha1.ApprovalPolicy{}
		if err := k8s.Get(t.Context(), client.ObjectKey{Name: policyName}, p); err != nil {
			return err
		}
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations["test/poke"] = time.Now().Format(time.RFC3339Nano)
		return k8s.Update(t.Context(), p)
	})
}

func waitPolicy(t *testing.T, what string, check func(*accessv1alpha1.ApprovalPolicy) error) {
	t.Helper()
	utils.Eventually(t, wait, func() error {
		p := &accessv1alpha1.ApprovalPolicy{}
		if err := k8s.Get(t.Context(), client.ObjectKey{Name: policyName}, p); err != nil {
			return err
		}
		if err := check(p); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

func wantConditions(p *accessv1alpha1.ApprovalPolicy, due, overdue metav1.ConditionStatus) error {
	if err := wantCondition(p, accessv1alpha1.ConditionReviewDue, due); err != nil {
		return err
	}
	return wantCondition(p, accessv1alpha1.ConditionReviewOverdue, overdue)
}

func wantCondition(p *accessv1alpha1.ApprovalPolicy, typ string, status metav1.ConditionStatus) error {
	c := meta.FindStatusCondition(p.Status.Conditions, typ)
	if c == nil || c.Status != status {
		return fmt.Errorf("%s = %+v, want %s", typ, c, status)
	}
	return nil
}

func request(t *testing.T, name string) {
	t.Helper()
	utils.Must(t, k8s.Create(t.Context(), &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "worker"},
			RoleRef:        accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: view},
			Duration:       metav1.Duration{Duration: 8 * time.Hour},
			Justification:  "read pods for CHG-1",
			Requester:      &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{Username: "dave"}},
		},
	}))
}

func get(t *testing.T, name string) *accessv1alpha1.AccessRequest {
	t.Helper()
	r := &accessv1alpha1.AccessRequest{}
	utils.Must(t, k8s.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, r))
	return r
}

func readyReason(r *accessv1alpha1.AccessRequest) string {
	if c := meta.FindStatusCondition(r.Status.Conditions, accessv1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

// waitReady waits for the request's Ready reason, creating it first with
// each create given.
func waitReady(t *testing.T, name, reason string, create ...func(*testing.T, string)) *accessv1alpha1.AccessRequest {
	t.Helper()
	for _, c := range create {
		c(t, name)
	}
	var r *accessv1alpha1.AccessRequest
	utils.Eventually(t, wait, func() error {
		r = get(t, name)
		if got := readyReason(r); got != reason {
			return fmt.Errorf("request %s: Ready reason %q, want %s", name, got, reason)
		}
		return nil
	})
	return r
}

func bindings(t *testing.T, request string) int {
	t.Helper()
	var list rbacv1.RoleBindingList
	utils.Must(t, k8s.List(t.Context(), &list, client.InNamespace(ns), client.MatchingLabels{accessv1alpha1.RequestLabel: request}))
	return len(list.Items)
}

// attest records an attestation as the reviewer (webhooks are off here, so
// the test writes the reviewer the mutating webhook would).
func attest(t *testing.T, reviewer string, groups []string) string {
	t.Helper()
	d := &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{GenerateName: policyName + "-review-", Namespace: ns},
		Spec: accessv1alpha1.AccessDecisionSpec{Policy: policyName, Decision: accessv1alpha1.DecisionAttest,
			Comment: "catalog checked", Reviewer: &accessv1alpha1.UserInfo{Username: reviewer, Groups: groups}},
	}
	utils.Must(t, k8s.Create(t.Context(), d))
	return d.Name
}

func waitCounted(t *testing.T, name, reason string) {
	t.Helper()
	utils.Eventually(t, wait, func() error {
		d := &accessv1alpha1.AccessDecision{}
		if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(d.Status.Conditions, accessv1alpha1.ConditionCounted); c == nil || c.Reason != reason {
			return fmt.Errorf("attestation %s: Counted %+v, want %s", name, c, reason)
		}
		return nil
	})
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	utils.Must(t, err)
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s series", name)
	return 0
}
