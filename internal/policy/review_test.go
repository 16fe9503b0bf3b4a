package policy

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

const day = 24 * time.Hour

// reviewedPolicy is the example policy, created at t0, reviewed every 90
// days by its app-owners tier.
func reviewedPolicy(onOverdue accessv1alpha1.OverdueAction) *accessv1alpha1.ApprovalPolicy {
	p := paymentsPolicy()
	p.CreationTimestamp = metav1.NewTime(t0)
	p.Spec.Review = &accessv1alpha1.PolicyReview{Every: dur(90 * day), OnOverdue: onOverdue,
		Reviewers: accessv1alpha1.PolicyReviewers{Tier: "app-owners"}}
	return p
}

func TestReview(t *testing.T) {
	cases := []struct {
		name         string
		policy       *accessv1alpha1.ApprovalPolicy
		lastReviewed time.Duration // after t0; 0 = never
		now          time.Duration
		phase        ReviewPhase
		dueAt        time.Duration
		nextChange   time.Duration // 0 = none
		suspended    bool
	}{
		{name: "a policy without a review has no review state",
			policy: paymentsPolicy(), now: 400 * day, phase: ReviewNotRequired},
		{name: "a new policy is current until 14 days before its first review is due",
			policy: reviewedPolicy(""), now: 75*day - time.Second, phase: ReviewCurrent, dueAt: 90 * day, nextChange: 76 * day},
		{name: "the review opens 14 days before it is due",
			policy: reviewedPolicy(""), now: 76 * day, phase: ReviewDue, dueAt: 90 * day, nextChange: 90 * day},
		{name: "the review is overdue at exactly its due time",
			policy: reviewedPolicy(accessv1alpha1.OverdueWarn), now: 90 * day, phase: ReviewOverdue, dueAt: 90 * day},
		{name: "an overdue review suspends new grants only under SuspendNewGrants",
			policy: reviewedPolicy(accessv1alpha1.OverdueSuspendNewGrants), now: 91 * day, phase: ReviewOverdue, dueAt: 90 * day,
			suspended: true},
		{name: "an attestation starts the period again",
			policy: reviewedPolicy(accessv1alpha1.OverdueSuspendNewGrants), lastReviewed: 95 * day, now: 96 * day,
			phase: ReviewCurrent, dueAt: 185 * day, nextChange: 171 * day},
		{name: "an attestation older than the policy does not count",
			policy: reviewedPolicy(""), lastReviewed: -10 * day, now: 0, phase: ReviewCurrent, dueAt: 90 * day, nextChange: 76 * day},
		{name: "a short period opens its review a third of the period before it is due",
			policy: func() *accessv1alpha1.ApprovalPolicy {
				p := reviewedPolicy("")
				p.Spec.Review.Every = dur(3 * time.Hour)
				return p
			}(), now: 2 * time.Hour, phase: ReviewDue, dueAt: 3 * time.Hour, nextChange: 3 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var last time.Time
			if tc.lastReviewed != 0 {
				last = t0.Add(tc.lastReviewed)
			}
			got := Review(tc.policy, last, t0.Add(tc.now))
			if got.Phase != tc.phase || got.Suspended != tc.suspended {
				t.Fatalf("phase %q suspended %v, want %q %v", got.Phase, got.Suspended, tc.phase, tc.suspended)
			}
			if tc.phase == ReviewNotRequired {
				return
			}
			if !got.DueAt.Equal(t0.Add(tc.dueAt)) {
				t.Errorf("dueAt = %s, want t0+%s", got.DueAt, tc.dueAt)
			}
			wantNext := time.Time{}
			if tc.nextChange != 0 {
				wantNext = t0.Add(tc.nextChange)
			}
			if !got.NextChange.Equal(wantNext) {
				t.Errorf("nextChange = %s, want %s", got.NextChange, wantNext)
			}
		})
	}
}

func attestation(name, namespace, policyName, reviewer string, groups []string, after time.Duration) accessv1alpha1.AccessDecision {
	u := user(reviewer, groups...)
	return accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, CreationTimestamp: metav1.NewTime(t0.Add(after))},
		Spec:       accessv1alpha1.AccessDecisionSpec{Policy: policyName, Decision: accessv1alpha1.DecisionAttest, Reviewer: &u},
	}
}

func TestJudgeAttestations(t *testing.T) {
	governed := func(ns string) bool { return ns == "payments" }
	subjects := reviewedPolicy("")
	subjects.Spec.Review.Reviewers = accessv1alpha1.PolicyReviewers{
		Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectUser, Name: "erin"}}}
	cases := []struct {
		name    string
		policy  *accessv1alpha1.ApprovalPolicy
		d       accessv1alpha1.AccessDecision
		reason  string
		counted bool
	}{
		{name: "a member of the reviewing tier attests",
			policy: reviewedPolicy(""), d: attestation("a", "payments", "payments", "bob", owners, day),
			counted: true, reason: accessv1alpha1.ReasonAttested},
		{name: "a member of another tier may not attest",
			policy: reviewedPolicy(""), d: attestation("a", "payments", "payments", "carol", security, day),
			reason: accessv1alpha1.ReasonNotEligible},
		{name: "listed subjects attest when the review names subjects",
			policy: subjects, d: attestation("a", "payments", "payments", "erin", nil, day),
			counted: true, reason: accessv1alpha1.ReasonAttested},
		{name: "a tier member is no reviewer when the review names subjects",
			policy: subjects, d: attestation("a", "payments", "payments", "alice", nil, day),
			reason: accessv1alpha1.ReasonNotEligible},
		{name: "an attestation in a namespace the policy does not govern does not count",
			policy: reviewedPolicy(""), d: attestation("a", "ledger", "payments", "bob", owners, day),
			reason: accessv1alpha1.ReasonNamespaceNotGoverned},
		{name: "a policy without a review cannot be attested",
			policy: paymentsPolicy(), d: attestation("a", "payments", "payments", "bob", owners, day),
			reason: accessv1alpha1.ReasonReviewNotConfigured},
		{name: "an attestation made before the policy was created does not count",
			policy: reviewedPolicy(""), d: attestation("a", "payments", "payments", "bob", owners, -time.Hour),
			reason: accessv1alpha1.ReasonRequestReplaced},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := JudgeAttestations(tc.policy, []accessv1alpha1.AccessDecision{tc.d}, governed)
			v := got.Verdicts[tc.d.Namespace+"/"+tc.d.Name]
			if v.Counted != tc.counted || v.Reason != tc.reason {
				t.Fatalf("verdict %+v, want counted %v reason %s", v, tc.counted, tc.reason)
			}
			if (got.Last != nil) != tc.counted {
				t.Errorf("last = %v, want one only when the attestation counted", got.Last)
			}
		})
	}
	if v := JudgeAttestation(nil, &accessv1alpha1.AccessDecision{Spec: accessv1alpha1.AccessDecisionSpec{Policy: "gone"}}, true); v.Reason != accessv1alpha1.ReasonPolicyNotFound {
		t.Errorf("missing policy: %+v", v)
	}
}

func TestJudgeAttestationsKeepsTheLatest(t *testing.T) {
	p := reviewedPolicy("")
	decisions := []accessv1alpha1.AccessDecision{
		attestation("late", "payments", "payments", "bob", owners, 20*day),
		attestation("forged", "payments", "payments", "mallory", nil, 30*day),
		attestation("early", "payments", "payments", "alice", nil, 10*day),
		attestation("other", "payments", "ledger", "bob", owners, 40*day),
		decision("approval", "bob", owners, approve, 50*day),
	}
	got := JudgeAttestations(p, decisions, func(string) bool { return true })
	if got.Last == nil || got.Last.Name != "late" {
		t.Fatalf("last = %v, want late", got.Last)
	}
	if len(got.Verdicts) != 3 {
		t.Errorf("verdicts %v: want the three attestations of this policy only", got.Verdicts)
	}
}

func TestEvaluateHoldsNewGrantsWhileTheReviewIsOverdue(t *testing.T) {
	view := func(r *accessv1alpha1.AccessRequest) {
		withRole(r, accessv1alpha1.RoleKindClusterRole, "view", "low")
		r.Spec.Duration = dur(2 * time.Hour)
		r.CreationTimestamp = metav1.NewTime(t0.Add(100 * day))
	}
	cases := []struct {
		name      string
		onOverdue accessv1alpha1.OverdueAction
		reviewed  time.Duration // after t0; 0 = never
		grantedAt time.Duration // after t0; 0 = never granted
		breakGlas bool
		outcome   Outcome
	}{
		{name: "an overdue review under Warn grants as usual",
			onOverdue: accessv1alpha1.OverdueWarn, outcome: OutcomeGrant},
		{name: "an overdue review under SuspendNewGrants holds a new grant back",
			onOverdue: accessv1alpha1.OverdueSuspendNewGrants, outcome: OutcomeWaiting},
		{name: "an active grant continues while the review is overdue",
			onOverdue: accessv1alpha1.OverdueSuspendNewGrants, grantedAt: 100*day - time.Hour, outcome: OutcomeGrant},
		{name: "an attestation resumes new grants",
			onOverdue: accessv1alpha1.OverdueSuspendNewGrants, reviewed: 99 * day, outcome: OutcomeGrant},
		{name: "break-glass access is not held back",
			onOverdue: accessv1alpha1.OverdueSuspendNewGrants, breakGlas: true, outcome: OutcomeGrant},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, req := example(nil, view)
			p.CreationTimestamp = metav1.NewTime(t0)
			p.Spec.Review = &accessv1alpha1.PolicyReview{Every: dur(90 * day), OnOverdue: tc.onOverdue,
				Reviewers: accessv1alpha1.PolicyReviewers{Tier: "app-owners"}}
			if tc.reviewed != 0 {
				p.Status.LastReviewed = ptr.To(metav1.NewTime(t0.Add(tc.reviewed)))
			}
			if tc.breakGlas {
				p.Spec.Entitlements[0].AutoApprove = false
				p.Spec.Entitlements[0].BreakGlass = &accessv1alpha1.BreakGlass{MaxDuration: dur(2 * time.Hour)}
				req.Spec.Tags["type"] = accessv1alpha1.BreakGlassTagValue
			}
			in := Input{Request: req, Policies: []accessv1alpha1.ApprovalPolicy{*p}, NamespaceLabels: paymentsNS,
				RoleExists: true, Now: t0.Add(100 * day)}
			if tc.grantedAt != 0 {
				in.GrantedAt = t0.Add(tc.grantedAt)
			}
			got := Evaluate(in)
			if got.Outcome != tc.outcome {
				t.Fatalf("outcome = %s, want %s (violations %v)", got.Outcome, tc.outcome, got.Violations)
			}
			if got.Outcome == OutcomeWaiting {
				if got.WaitReason != accessv1alpha1.ReasonReviewOverdue || !strings.Contains(got.WaitMessage, "kubectl rolegate attest payments") {
					t.Errorf("wait %s: %s", got.WaitReason, got.WaitMessage)
				}
				if !got.GrantedAt.IsZero() || !got.ExpiresAt.IsZero() || got.RequeueAfter != 0 {
					t.Errorf("a held grant has no window and waits for the policy: %+v", got)
				}
			}
		})
	}
}

func TestLongGrants(t *testing.T) {
	p := reviewedPolicy("")
	p.Spec.Review.IncludeGrantsLongerThan = ptr.To(dur(4 * time.Hour))
	now := t0.Add(time.Hour)
	grant := func(name, pol, ready string, d time.Duration) accessv1alpha1.AccessRequest {
		ar := *migrateRequest()
		ar.Name = name
		ar.Status.Policy = pol
		ar.Status.GrantedAt = ptr.To(metav1.NewTime(t0))
		ar.Status.ExpiresAt = ptr.To(metav1.NewTime(t0.Add(d)))
		ar.Status.Conditions = []metav1.Condition{{Type: accessv1alpha1.ConditionReady, Reason: ready}}
		return ar
	}
	requests := []accessv1alpha1.AccessRequest{
		grant("short", "payments", accessv1alpha1.ReasonGranted, 4*time.Hour),
		grant("long", "payments", accessv1alpha1.ReasonGranted, 8*time.Hour),
		grant("longest", "payments", accessv1alpha1.ReasonGranted, 24*time.Hour),
		grant("revoked", "payments", accessv1alpha1.ReasonRevoked, 24*time.Hour),
		grant("elsewhere", "ledger", accessv1alpha1.ReasonGranted, 24*time.Hour),
	}
	got := LongGrants(p, requests, now)
	if len(got) != 2 || got[0].Name != "longest" || got[1].Name != "long" {
		t.Fatalf("long grants = %+v, want longest then long", got)
	}
	if s := DescribeLongGrants(got, 1); !strings.Contains(s, "payments/longest") || !strings.HasSuffix(s, "and 1 more") {
		t.Errorf("description %q", s)
	}
	p.Spec.Review.IncludeGrantsLongerThan = nil
	if got := LongGrants(p, requests, now); got != nil {
		t.Errorf("without includeGrantsLongerThan: %+v", got)
	}
}
