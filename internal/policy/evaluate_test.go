package policy

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func TestEvaluate(t *testing.T) {
	view := func(r *accessv1alpha1.AccessRequest) {
		withRole(r, accessv1alpha1.RoleKindClusterRole, "view", "low")
		r.Spec.Duration = dur(2 * time.Hour)
	}
	twoApprovals := []accessv1alpha1.AccessDecision{
		decision("d1", "carol", security, approve, time.Minute),
		decision("d2", "erin", security, approve, 2*time.Minute),
	}
	cases := []struct {
		name       string
		policy     func(*accessv1alpha1.ApprovalPolicy)
		request    func(*accessv1alpha1.AccessRequest)
		decisions  []accessv1alpha1.AccessDecision
		roleAbsent bool
		grantedAt  time.Duration // after t0; -1 = never granted
		now        time.Duration
		outcome    Outcome
		reason     string // first violation's reason
		expiresAt  time.Duration
		requeue    time.Duration
	}{
		{name: "an auto-approved request is granted at once for its duration",
			request: view, grantedAt: -1, now: 1500 * time.Millisecond,
			outcome: OutcomeGrant, expiresAt: 2*time.Hour + time.Second, requeue: 2*time.Hour - 500*time.Millisecond},
		{name: "a grant keeps its original start across reconciles",
			request: view, grantedAt: time.Second, now: time.Hour,
			outcome: OutcomeGrant, expiresAt: 2*time.Hour + time.Second, requeue: time.Hour + time.Second},
		{name: "a grant ends at exactly its expiry",
			request: view, grantedAt: 0, now: 2 * time.Hour, outcome: OutcomeExpired, expiresAt: 2 * time.Hour},
		{name: "a grant whose expiry passed while nobody looked is expired",
			request: view, grantedAt: 0, now: 30 * time.Hour, outcome: OutcomeExpired},
		{name: "a shorter maxDuration cuts an active grant",
			request:   view,
			policy:    func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.Entitlements[0].MaxDuration = dur(30 * time.Minute) },
			grantedAt: 0, now: 10 * time.Minute, outcome: OutcomeGrant, expiresAt: 30 * time.Minute, requeue: 20 * time.Minute},
		{name: "a shorter maxDuration that has already passed ends the grant now",
			request:   view,
			policy:    func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.Entitlements[0].MaxDuration = dur(30 * time.Minute) },
			grantedAt: 0, now: time.Hour, outcome: OutcomeExpired},
		{name: "removing the role from the catalog cuts an active grant",
			request:   view,
			policy:    func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.Entitlements = p.Spec.Entitlements[1:] },
			grantedAt: 0, now: time.Minute, outcome: OutcomePolicyChanged, reason: accessv1alpha1.ReasonRoleNotInCatalog},
		{name: "a policy that stops governing the namespace cuts an active grant",
			request:   view,
			policy:    func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.NamespaceSelector.MatchLabels["team"] = "ledger" },
			grantedAt: 0, now: time.Minute, outcome: OutcomePolicyChanged, reason: accessv1alpha1.ReasonNoMatchingPolicy},
		{name: "turning off autoApprove cuts a grant that no reviewer approved",
			request:   view,
			policy:    func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.Entitlements[0].AutoApprove = false },
			grantedAt: 0, now: time.Minute, outcome: OutcomePolicyChanged},
		{name: "an invalid request that was never granted is Invalid",
			request:   func(r *accessv1alpha1.AccessRequest) { r.Spec.Duration = dur(5 * time.Hour) },
			grantedAt: -1, now: time.Minute, outcome: OutcomeInvalid, reason: accessv1alpha1.ReasonDurationTooLong},
		{name: "a role that does not exist is not granted",
			request: view, roleAbsent: true, grantedAt: -1, now: time.Minute,
			outcome: OutcomeInvalid, reason: accessv1alpha1.ReasonRoleNotFound},
		{name: "a pending request is requeued for its timeout",
			grantedAt: -1, now: time.Hour, outcome: OutcomePending, requeue: 71 * time.Hour},
		{name: "a request approved by two reviewers is granted from now",
			decisions: twoApprovals, grantedAt: -1, now: 5 * time.Minute,
			outcome: OutcomeGrant, expiresAt: 65 * time.Minute, requeue: time.Hour},
		{name: "a denied request is not granted",
			decisions: []accessv1alpha1.AccessDecision{decision("d1", "carol", security, deny, time.Minute)},
			grantedAt: -1, now: 5 * time.Minute, outcome: OutcomeDenied},
		{name: "a revoked grant ends",
			decisions: append(twoApprovals, decision("d3", "dave", nil, revoke, 10*time.Minute)),
			grantedAt: 3 * time.Minute, now: 11 * time.Minute, outcome: OutcomeRevoked},
		{name: "a timed-out request is not granted",
			grantedAt: -1, now: 80 * time.Hour, outcome: OutcomeTimedOut},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, req := example(tc.policy, tc.request)
			in := Input{Request: req, Policies: []accessv1alpha1.ApprovalPolicy{*p}, NamespaceLabels: paymentsNS,
				Decisions: tc.decisions, RoleExists: !tc.roleAbsent, Now: t0.Add(tc.now)}
			if tc.grantedAt >= 0 {
				in.GrantedAt = t0.Add(tc.grantedAt)
			}
			got := Evaluate(in)
			if got.Outcome != tc.outcome {
				t.Fatalf("outcome = %s, want %s (violations %v, tally %+v)", got.Outcome, tc.outcome, got.Violations, got.Tally.State)
			}
			if tc.reason != "" && (len(got.Violations) == 0 || got.Violations[0].Reason != tc.reason) {
				t.Errorf("violations = %v, want first %s", got.Violations, tc.reason)
			}
			if tc.expiresAt != 0 && !got.ExpiresAt.Equal(t0.Add(tc.expiresAt)) {
				t.Errorf("expiresAt = %s, want t0+%s", got.ExpiresAt, tc.expiresAt)
			}
			if got.RequeueAfter != tc.requeue {
				t.Errorf("requeueAfter = %s, want %s", got.RequeueAfter, tc.requeue)
			}
			if got.Outcome == OutcomeGrant && (got.GrantedAt.Nanosecond() != 0 || !got.ExpiresAt.After(in.Now)) {
				t.Errorf("grant window %s..%s must start on a whole second and end after now", got.GrantedAt, got.ExpiresAt)
			}
		})
	}
}

func TestEvaluateMarksDecisionsOnInvalidRequests(t *testing.T) {
	req := migrateRequest()
	req.Spec.Requester = nil
	got := Evaluate(Input{Request: req, Policies: []accessv1alpha1.ApprovalPolicy{*paymentsPolicy()}, NamespaceLabels: paymentsNS,
		RoleExists: true, Now: t0.Add(time.Hour),
		Decisions: []accessv1alpha1.AccessDecision{decision("d1", "carol", security, approve, time.Minute)}})
	if got.Outcome != OutcomeInvalid {
		t.Fatalf("outcome = %s, want Invalid: a request without a requester is never granted", got.Outcome)
	}
	if v := got.Tally.Verdicts["d1"]; v.Counted || v.Reason != accessv1alpha1.ReasonRequestNotPending {
		t.Errorf("verdict = %+v, want RequestNotPending", v)
	}
}

func TestUntil(t *testing.T) {
	if got := Until(t0, t0.Add(-time.Minute)); got != 0 {
		t.Errorf("Until of a past time = %s, want 0", got)
	}
	if got := Until(t0, t0.Add(time.Minute)); got != time.Minute {
		t.Errorf("Until = %s, want 1m", got)
	}
}

func TestClosed(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*accessv1alpha1.AccessRequest)
		want   bool
	}{
		{"a new request is open", func(*accessv1alpha1.AccessRequest) {}, false},
		{"a granted request is open", func(r *accessv1alpha1.AccessRequest) { setReady(r, accessv1alpha1.ReasonGranted) }, false},
		{"a request whose access ended is closed", func(r *accessv1alpha1.AccessRequest) {
			r.Status.RevokedAt = &metav1.Time{Time: t0}
		}, true},
		{"a denied request is closed", func(r *accessv1alpha1.AccessRequest) { setReady(r, accessv1alpha1.ReasonDenied) }, true},
		{"a timed-out request is closed", func(r *accessv1alpha1.AccessRequest) { setReady(r, accessv1alpha1.ReasonTimedOut) }, true},
		{"an invalid request may still become valid", func(r *accessv1alpha1.AccessRequest) { setReady(r, accessv1alpha1.ReasonInvalid) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := migrateRequest()
			tc.mutate(r)
			if got := Closed(r); got != tc.want {
				t.Errorf("Closed = %v, want %v", got, tc.want)
			}
		})
	}
}

func setReady(r *accessv1alpha1.AccessRequest, reason string) {
	r.Status.Conditions = append(r.Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionReady, Reason: reason})
}
