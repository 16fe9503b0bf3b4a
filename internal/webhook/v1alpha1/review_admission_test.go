package v1alpha1_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/test/utils"
)

// reviewed makes the team's policy reviewed by its app-owners tier.
func reviewed(p *accessv1alpha1.ApprovalPolicy) {
	p.Spec.Review = &accessv1alpha1.PolicyReview{Every: metav1.Duration{Duration: 2160 * time.Hour},
		Reviewers: accessv1alpha1.PolicyReviewers{Tier: "app-owners"}}
}

func (tm *team) attestation(namespace, policyName string) *accessv1alpha1.AccessDecision {
	return &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{GenerateName: policyName + "-review-", Namespace: namespace},
		Spec:       accessv1alpha1.AccessDecisionSpec{Policy: policyName, Decision: accessv1alpha1.DecisionAttest, Comment: "checked"},
	}
}

func TestAnAttestationByAReviewerIsStampedAndRenewsTheReview(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t, reviewed)
	time.Sleep(time.Second) // attestations count when made after the policy was created; timestamps have whole seconds
	d := tm.attestation(tm.ns, tm.policy)
	utils.Must(t, as(t, "bob", owners...).Create(t.Context(), d))
	if d.Spec.Reviewer == nil || d.Spec.Reviewer.Username != "bob" || d.Spec.RequestUID != "" {
		t.Fatalf("spec = %+v, want bob stamped as the reviewer and no requestUID", d.Spec)
	}
	utils.Eventually(t, wait, func() error {
		p := &accessv1alpha1.ApprovalPolicy{}
		if err := admin.Get(t.Context(), client.ObjectKey{Name: tm.policy}, p); err != nil {
			return err
		}
		if p.Status.LastReviewedBy != "bob" || p.Status.ReviewDueAt == nil ||
			!p.Status.ReviewDueAt.Time.Equal(d.CreationTimestamp.Add(2160*time.Hour)) {
			return fmt.Errorf("lastReviewedBy %q, reviewDueAt %v; want bob's attestation and 2160h after it",
				p.Status.LastReviewedBy, p.Status.ReviewDueAt)
		}
		if c := meta.FindStatusCondition(p.Status.Conditions, accessv1alpha1.ConditionReviewDue); c == nil ||
			c.Status != metav1.ConditionFalse || c.Reason != accessv1alpha1.ReasonReviewNotDue {
			return fmt.Errorf("ReviewDue = %+v, want False (Reviewed)", c)
		}
		return nil
	})
}

func TestAttestationsThatWouldNotCountAreRefused(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t, reviewed)
	plain := newTeam(t)
	other := newTeam(t)
	forged := tm.attestation(tm.ns, tm.policy)
	forged.Spec.Reviewer = &accessv1alpha1.UserInfo{Username: "bob", Groups: owners}
	cases := []struct {
		name   string
		d      *accessv1alpha1.AccessDecision
		user   string
		groups []string
		want   []string
	}{
		{"someone outside the reviewing tier", tm.attestation(tm.ns, tm.policy), "carol", security,
			[]string{"spec.reviewer: Forbidden: carol may not attest ApprovalPolicy " + tm.policy, "tier app-owners", "(NotEligible)"}},
		{"a namespace the policy does not govern", tm.attestation(other.ns, tm.policy), "bob", owners,
			[]string{"metadata.namespace: Forbidden", "does not govern namespace " + other.ns, "(NamespaceNotGoverned)"}},
		{"a policy without a review", tm.attestation(plain.ns, plain.policy), "bob", owners,
			[]string{"spec.policy: Forbidden", "has no spec.review", "(ReviewNotConfigured)"}},
		{"a policy that does not exist", tm.attestation(tm.ns, "no-such-policy"), "bob", owners,
			[]string{"spec.policy: Forbidden: ApprovalPolicy no-such-policy does not exist", "(PolicyNotFound)"}},
		{"a reviewer written by the client", forged, "mallory", nil,
			[]string{"spec.reviewer: Forbidden: is written by rolegate"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			refused(t, as(t, tc.user, tc.groups...).Create(t.Context(), tc.d), tc.want...)
		})
	}
	if t.Failed() {
		return
	}
	// None of them renewed the review.
	p := &accessv1alpha1.ApprovalPolicy{}
	utils.Must(t, admin.Get(t.Context(), client.ObjectKey{Name: tm.policy}, p))
	if p.Status.LastReviewed != nil || strings.TrimSpace(p.Status.LastReviewedBy) != "" {
		t.Errorf("lastReviewed %v by %q after refused attestations", p.Status.LastReviewed, p.Status.LastReviewedBy)
	}
}

// A request under a policy whose overdue review suspends new grants is
// admitted, with a warning that it will wait for an attestation; the
// controller holds it with Ready reason ReviewOverdue.
func TestARequestUnderASuspendedPolicyIsWarnedAndHeld(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t, func(p *accessv1alpha1.ApprovalPolicy) {
		p.Spec.Review = &accessv1alpha1.PolicyReview{Every: metav1.Duration{Duration: time.Second},
			Reviewers: accessv1alpha1.PolicyReviewers{Tier: "app-owners"}, OnOverdue: accessv1alpha1.OverdueSuspendNewGrants}
		p.Spec.Entitlements[0].AutoApprove = true
	})
	time.Sleep(1100 * time.Millisecond) // the one-second period has passed: overdue
	c, w := asWarned(t, "alice", devs...)
	utils.Must(t, c.Create(t.Context(), tm.requestObject("held")))
	if !containsAll(w.All(), "the review of ApprovalPolicy "+tm.policy, "held back (onOverdue: SuspendNewGrants)") {
		t.Errorf("warnings %q do not say that the grant waits for an attestation", w.All())
	}
	tm.waitReady(t, "held", accessv1alpha1.ReasonReviewOverdue)
	if n := len(tm.bindings(t, "held")); n != 0 {
		t.Fatalf("%d RoleBindings for a held request", n)
	}
}
