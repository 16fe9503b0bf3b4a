package controller

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/metrics"
)

// tieredFixture is a namespace governed by a policy with three tiers:
// app-owners (up to medium, escalating after 30m), security (escalating
// after 1h) and ciso, and a pendingTimeout of 72h.
func tieredFixture(sensitivity string) []client.Object {
	req := fakeRequest("tiered", accessv1alpha1.RoleKindRole, "config-editor")
	req.Spec.Tags = map[string]string{"sensitivity": sensitivity}
	d := func(x time.Duration) *metav1.Duration { return &metav1.Duration{Duration: x} }
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments", Labels: map[string]string{"team": "payments"}}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "config-editor", Namespace: "payments"}},
		grantee(),
		&accessv1alpha1.ApprovalPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "tiers"},
			Spec: accessv1alpha1.ApprovalPolicySpec{
				NamespaceSelector:    &metav1.LabelSelector{},
				RequireJustification: ptr.To(false),
				Entitlements: []accessv1alpha1.Entitlement{{
					RoleRef:     accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "config-editor"},
					MaxDuration: metav1.Duration{Duration: time.Hour}, Sensitivity: accessv1alpha1.SensitivityLow}},
				Approvers: []accessv1alpha1.ApproverTier{
					{Name: "app-owners", RequiredApprovals: 1, MaxSensitivity: accessv1alpha1.SensitivityMedium, EscalateAfter: d(30 * time.Minute),
						Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectUser, Name: "bob"}}},
					{Name: "security", RequiredApprovals: 1, EscalateAfter: d(time.Hour),
						Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectUser, Name: "carol"}}},
					{Name: "ciso", RequiredApprovals: 1,
						Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectUser, Name: "grace"}}},
				},
				PendingTimeout: d(72 * time.Hour),
			},
		},
		req,
	}
}

func withMetrics(t *testing.T, h *harness) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.NewRecorder(reg)
	if err != nil {
		t.Fatal(err)
	}
	h.r.Metrics = m
	reg.MustRegister(metrics.NewStateCollector(h.c, h.clock))
	return reg
}

func (h *harness) at(t *testing.T, after time.Duration) (*accessv1alpha1.AccessRequest, time.Duration) {
	t.Helper()
	h.clock.SetTime(t0.Add(after))
	res, err := h.reconcile(t, "tiered")
	if err != nil {
		t.Fatalf("reconcile at t0+%s: %v", after, err)
	}
	return h.request(t, "tiered"), res.RequeueAfter
}

func (h *harness) auditEvents(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(h.audit.String()), "\n") {
		var rec struct{ Event string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, rec.Event)
	}
	return out
}

func TestEscalationHappensAtExactlyEscalateAfter(t *testing.T) {
	h := newHarness(t, interceptor.Funcs{}, tieredFixture("medium")...)
	reg := withMetrics(t, h)

	ar, requeue := h.at(t, time.Minute)
	if ar.Status.Tier != "app-owners" || requeue != 29*time.Minute {
		t.Fatalf("tier = %s, requeue = %s; want app-owners, requeued for the escalation 29m later", ar.Status.Tier, requeue)
	}
	if c := findCondition(ar.Status.Conditions, accessv1alpha1.ConditionEscalated); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Escalated = %+v, want False", c)
	}
	if got := value(t, reg, metrics.PendingRequests, map[string]string{"policy": "tiers", "tier": "app-owners"}); got != 1 {
		t.Errorf("pending{app-owners} = %v, want 1", got)
	}

	ar, requeue = h.at(t, 30*time.Minute-time.Second)
	if ar.Status.Tier != "app-owners" || requeue != time.Second {
		t.Fatalf("one second early: tier = %s, requeue = %s", ar.Status.Tier, requeue)
	}
	ar, requeue = h.at(t, 30*time.Minute)
	if ar.Status.Tier != "security" {
		t.Fatalf("at escalateAfter: tier = %s, want security", ar.Status.Tier)
	}
	if c := findCondition(ar.Status.Conditions, accessv1alpha1.ConditionEscalated); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Escalated = %+v, want True", c)
	}
	if requeue != time.Hour {
		t.Errorf("requeue = %s, want 1h until security hands over", requeue)
	}
	if got := value(t, reg, metrics.EscalationsTotal, map[string]string{"policy": "tiers", "from_tier": "app-owners", "to_tier": "security"}); got != 1 {
		t.Errorf("escalations{app-owners->security} = %v, want 1", got)
	}
	if !strings.Contains(strings.Join(h.events(), "\n"), "Normal Escalated") {
		t.Errorf("no Escalated event")
	}
	if ev := h.auditEvents(t); ev[len(ev)-1] != "Escalated" {
		t.Errorf("audit events = %v, want the last to be Escalated", ev)
	}
	if got := value(t, reg, metrics.PendingRequests, map[string]string{"policy": "tiers", "tier": "security"}); got != 1 {
		t.Errorf("pending{security} = %v, want 1", got)
	}
	if got := value(t, reg, metrics.OldestPendingAge, map[string]string{"policy": "tiers"}); got != (30 * time.Minute).Seconds() {
		t.Errorf("oldest pending age = %v, want 1800", got)
	}
}

func TestEscalationRunsThroughSeveralTiers(t *testing.T) {
	h := newHarness(t, interceptor.Funcs{}, tieredFixture("medium")...)
	reg := withMetrics(t, h)
	h.at(t, time.Minute)
	h.at(t, 30*time.Minute)
	ar, requeue := h.at(t, 90*time.Minute)
	if ar.Status.Tier != "ciso" {
		t.Fatalf("tier = %s, want ciso after app-owners (30m) and security (1h)", ar.Status.Tier)
	}
	if requeue != 72*time.Hour-90*time.Minute {
		t.Errorf("requeue = %s, want until the pending timeout", requeue)
	}
	for _, hop := range [][2]string{{"app-owners", "security"}, {"security", "ciso"}} {
		if got := value(t, reg, metrics.EscalationsTotal, map[string]string{"policy": "tiers", "from_tier": hop[0], "to_tier": hop[1]}); got != 1 {
			t.Errorf("escalations{%s->%s} = %v, want 1", hop[0], hop[1], got)
		}
	}
	// A reviewer of a tier that has handed over no longer counts.
	d := &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: "payments", CreationTimestamp: metav1.NewTime(t0.Add(91 * time.Minute))},
		Spec: accessv1alpha1.AccessDecisionSpec{Request: "tiered", Decision: accessv1alpha1.DecisionApprove,
			Reviewer: &accessv1alpha1.UserInfo{Username: "bob"}},
	}
	if err := h.c.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	h.at(t, 92*time.Minute)
	got := &accessv1alpha1.AccessDecision{}
	if err := h.c.Get(context.Background(), client.ObjectKeyFromObject(d), got); err != nil {
		t.Fatal(err)
	}
	if r := conditionReason(got.Status.Conditions, accessv1alpha1.ConditionCounted); r != accessv1alpha1.ReasonNotEligible {
		t.Errorf("bob's late approval: Counted reason = %s, want NotEligible", r)
	}
}

func TestATierMayNotApproveAboveItsAuthority(t *testing.T) {
	h := newHarness(t, interceptor.Funcs{}, tieredFixture("high")...)
	withMetrics(t, h)
	ar, _ := h.at(t, time.Minute)
	if ar.Status.Tier != "security" || ar.Status.EffectiveSensitivity != accessv1alpha1.SensitivityHigh {
		t.Fatalf("tier = %s, sensitivity %s; app-owners may not decide high", ar.Status.Tier, ar.Status.EffectiveSensitivity)
	}
	d := &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{Name: "bob", Namespace: "payments", CreationTimestamp: metav1.NewTime(t0.Add(2 * time.Minute))},
		Spec: accessv1alpha1.AccessDecisionSpec{Request: "tiered", Decision: accessv1alpha1.DecisionApprove,
			Reviewer: &accessv1alpha1.UserInfo{Username: "bob"}},
	}
	if err := h.c.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	ar, _ = h.at(t, 3*time.Minute)
	if readyReason(ar) != accessv1alpha1.ReasonPendingApproval || len(h.bindings(t)) != 0 {
		t.Fatalf("an app-owner approved a high request: ready %s", readyReason(ar))
	}
}

func TestPendingTimeoutClosesTheRequest(t *testing.T) {
	h := newHarness(t, interceptor.Funcs{}, tieredFixture("medium")...)
	reg := withMetrics(t, h)
	h.at(t, time.Minute)
	ar, _ := h.at(t, 72*time.Hour-time.Second)
	if readyReason(ar) != accessv1alpha1.ReasonPendingApproval {
		t.Fatalf("one second before the timeout: %s", readyReason(ar))
	}
	ar, requeue := h.at(t, 72*time.Hour)
	if readyReason(ar) != accessv1alpha1.ReasonTimedOut || requeue != 0 {
		t.Fatalf("at the timeout: ready %s, requeue %s; want TimedOut and no requeue", readyReason(ar), requeue)
	}
	if c := findCondition(ar.Status.Conditions, accessv1alpha1.ConditionApproved); c.Status != metav1.ConditionFalse || c.Reason != accessv1alpha1.ReasonTimedOut {
		t.Errorf("Approved = %+v", c)
	}
	if got := value(t, reg, metrics.RequestsTotal, map[string]string{"policy": "tiers", "outcome": metrics.OutcomeTimedOut}); got != 1 {
		t.Errorf("requests_total{timed_out} = %v, want 1", got)
	}
	if !strings.Contains(strings.Join(h.events(), "\n"), "Warning TimedOut") {
		t.Errorf("no TimedOut event")
	}
	if ev := h.auditEvents(t); ev[len(ev)-1] != "TimedOut" {
		t.Errorf("audit events = %v", ev)
	}
	if got := value(t, reg, metrics.PendingRequests, map[string]string{"policy": "tiers", "tier": "ciso"}); got != 0 {
		t.Errorf("a timed-out request still counts as pending")
	}
	// A closed request stays closed.
	if ar, _ = h.at(t, 80*time.Hour); readyReason(ar) != accessv1alpha1.ReasonTimedOut {
		t.Errorf("later: %s", readyReason(ar))
	}
}

func TestMetricsAfterAFullLifecycle(t *testing.T) {
	h := newHarness(t, interceptor.Funcs{})
	reg := withMetrics(t, h)
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	if got := value(t, reg, metrics.ActiveGrants, map[string]string{"policy": "payments"}); got != 1 {
		t.Errorf("active grants = %v, want 1", got)
	}
	if got := value(t, reg, metrics.OverdueGrants, map[string]string{}); got != 0 {
		t.Errorf("overdue = %v before expiry", got)
	}
	// Past expiry, before the controller acts: the binding is overdue.
	h.clock.SetTime(t0.Add(time.Hour + time.Minute + 3*time.Second))
	if got := value(t, reg, metrics.OverdueGrants, map[string]string{}); got != 1 {
		t.Errorf("overdue = %v while an expired binding exists, want 1", got)
	}
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	if got := value(t, reg, metrics.OverdueGrants, map[string]string{}); got != 0 {
		t.Errorf("overdue = %v after revocation, want 0", got)
	}
	if got := value(t, reg, metrics.ActiveGrants, map[string]string{"policy": "payments"}); got != 0 {
		t.Errorf("active grants = %v after expiry, want 0", got)
	}
	for outcome, want := range map[string]float64{metrics.OutcomeGranted: 1, metrics.OutcomeExpired: 1, metrics.OutcomeRevoked: 0} {
		if got := value(t, reg, metrics.RequestsTotal, map[string]string{"policy": "payments", "outcome": outcome}); got != want {
			t.Errorf("requests_total{%s} = %v, want %v", outcome, got, want)
		}
	}
	want := `
# HELP rolegate_revocation_lag_seconds Seconds between a grant's expiresAt and the removal of its RoleBinding.
# TYPE rolegate_revocation_lag_seconds histogram
rolegate_revocation_lag_seconds_bucket{le="0.1"} 0
rolegate_revocation_lag_seconds_bucket{le="0.25"} 0
rolegate_revocation_lag_seconds_bucket{le="0.5"} 0
rolegate_revocation_lag_seconds_bucket{le="1"} 0
rolegate_revocation_lag_seconds_bucket{le="2"} 0
rolegate_revocation_lag_seconds_bucket{le="5"} 1
rolegate_revocation_lag_seconds_bucket{le="10"} 1
rolegate_revocation_lag_seconds_bucket{le="30"} 1
rolegate_revocation_lag_seconds_bucket{le="60"} 1
rolegate_revocation_lag_seconds_bucket{le="300"} 1
rolegate_revocation_lag_seconds_bucket{le="+Inf"} 1
rolegate_revocation_lag_seconds_sum 3
rolegate_revocation_lag_seconds_count 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), metrics.RevocationLagSeconds); err != nil {
		t.Error(err)
	}
	if n := value(t, reg, metrics.TimeToDecisionSeconds, map[string]string{"policy": "payments", "decision": metrics.DecisionAutoApproved}); n != 1 {
		t.Errorf("time_to_decision{auto_approved} observations = %v, want 1", n)
	}
	if n, err := testutil.GatherAndCount(reg, metrics.TimeToGrantSeconds); err != nil || n != 1 {
		t.Errorf("time_to_grant series = %d, %v", n, err)
	}
}

// value reads one series, chosen by its labels, of a gathered family:
// the counter's value or the histogram's sample count.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}
