package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/audit"
	"rolegate.dev/rolegate/internal/snapshot"
)

const reviewDay = 24 * time.Hour

// TestPolicyReviewStatusFollowsTheClockAndAttestations drives the policy
// reconciler with a fake client and clock through a 90-day review: current,
// open (with the long grants listed), overdue, then attested.
func TestPolicyReviewStatusFollowsTheClockAndAttestations(t *testing.T) {
	objs := fixture()
	p := objs[3].(*accessv1alpha1.ApprovalPolicy)
	p.CreationTimestamp = metav1.NewTime(t0)
	p.Spec.Review = &accessv1alpha1.PolicyReview{Every: metav1.Duration{Duration: 90 * reviewDay},
		Reviewers:               accessv1alpha1.PolicyReviewers{Tier: "security"},
		IncludeGrantsLongerThan: &metav1.Duration{Duration: 30 * time.Minute}}
	long := objs[len(objs)-2].(*accessv1alpha1.AccessRequest) // view-req
	long.Status.Policy = "payments"
	long.Status.GrantedAt = &metav1.Time{Time: t0.Add(80*reviewDay - time.Hour)}
	long.Status.ExpiresAt = &metav1.Time{Time: t0.Add(80*reviewDay + time.Hour)}
	long.Status.Conditions = []metav1.Condition{{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: accessv1alpha1.ReasonGranted}}
	b := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).
		WithStatusSubresource(&accessv1alpha1.AccessRequest{}, &accessv1alpha1.AccessDecision{}, &accessv1alpha1.ApprovalPolicy{})
	for _, ix := range snapshot.Indexes() {
		b = b.WithIndex(ix.Object, ix.Field, ix.Extract)
	}
	c := b.Build()
	clk := clocktesting.NewFakeClock(t0.Add(time.Minute))
	rec := events.NewFakeRecorder(10)
	trail := &recordingSink{}
	r := &ApprovalPolicyReconciler{Client: c, Clock: clk, Recorder: rec, Audit: trail}
	step := func(at time.Duration) (*accessv1alpha1.ApprovalPolicy, time.Duration) {
		t.Helper()
		clk.SetTime(t0.Add(at))
		res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Name: "payments"}})
		if err != nil {
			t.Fatal(err)
		}
		got := &accessv1alpha1.ApprovalPolicy{}
		if err := c.Get(context.Background(), client.ObjectKey{Name: "payments"}, got); err != nil {
			t.Fatal(err)
		}
		return got, res.RequeueAfter
	}
	reason := func(p *accessv1alpha1.ApprovalPolicy, typ string) (metav1.ConditionStatus, string, string) {
		c := meta.FindStatusCondition(p.Status.Conditions, typ)
		if c == nil {
			t.Fatalf("no %s condition", typ)
		}
		return c.Status, c.Reason, c.Message
	}

	got, requeue := step(time.Minute)
	if st, rs, _ := reason(got, accessv1alpha1.ConditionReviewDue); st != metav1.ConditionFalse || rs != accessv1alpha1.ReasonReviewNotDue {
		t.Errorf("new policy: ReviewDue %s/%s, want False/Reviewed", st, rs)
	}
	if !got.Status.ReviewDueAt.Time.Equal(t0.Add(90*reviewDay)) || requeue != 76*reviewDay-time.Minute {
		t.Errorf("reviewDueAt %s requeue %s; want t0+90d, back when the review opens at t0+76d", got.Status.ReviewDueAt, requeue)
	}

	got, requeue = step(80 * reviewDay)
	st, rs, msg := reason(got, accessv1alpha1.ConditionReviewDue)
	if st != metav1.ConditionTrue || rs != accessv1alpha1.ReasonReviewDue || !strings.Contains(msg, "payments/view-req") {
		t.Errorf("open review: ReviewDue %s/%s %q; want True/ReviewDue listing the 2h grant view-req", st, rs, msg)
	}
	if requeue != longGrantsRefresh {
		t.Errorf("requeue %s while open, want the long-grant refresh %s", requeue, longGrantsRefresh)
	}

	got, _ = step(91 * reviewDay)
	if st, rs, _ := reason(got, accessv1alpha1.ConditionReviewOverdue); st != metav1.ConditionTrue || rs != accessv1alpha1.ReasonReviewOverdue {
		t.Errorf("overdue: ReviewOverdue %s/%s", st, rs)
	}

	attestation := func(name, user string, groups ...string) *accessv1alpha1.AccessDecision {
		return &accessv1alpha1.AccessDecision{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "payments", CreationTimestamp: metav1.NewTime(t0.Add(91 * reviewDay))},
			Spec: accessv1alpha1.AccessDecisionSpec{Policy: "payments", Decision: accessv1alpha1.DecisionAttest,
				Reviewer: &accessv1alpha1.UserInfo{Username: user, Groups: groups}},
		}
	}
	for _, d := range []*accessv1alpha1.AccessDecision{attestation("by-carol", "carol", "security-oncall"), attestation("by-dave", "dave")} {
		if err := c.Create(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	got, _ = step(91*reviewDay + time.Minute)
	step(91*reviewDay + 2*time.Minute) // a later pass: nothing new to record
	if got.Status.LastReviewedBy != "carol" || !got.Status.ReviewDueAt.Time.Equal(t0.Add(181*reviewDay)) {
		t.Errorf("after carol's attestation: lastReviewedBy %q, reviewDueAt %s", got.Status.LastReviewedBy, got.Status.ReviewDueAt)
	}
	if st, _, _ := reason(got, accessv1alpha1.ConditionReviewOverdue); st != metav1.ConditionFalse {
		t.Errorf("ReviewOverdue %s after the attestation, want False", st)
	}
	for name, want := range map[string]string{"by-carol": accessv1alpha1.ReasonAttested, "by-dave": accessv1alpha1.ReasonNotEligible} {
		d := &accessv1alpha1.AccessDecision{}
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "payments", Name: name}, d); err != nil {
			t.Fatal(err)
		}
		if c := meta.FindStatusCondition(d.Status.Conditions, accessv1alpha1.ConditionCounted); c == nil || c.Reason != want {
			t.Errorf("%s: Counted %+v, want %s", name, c, want)
		}
	}

	close(rec.Events)
	var recorded []string
	for e := range rec.Events {
		recorded = append(recorded, e)
	}
	if len(recorded) != 2 || !strings.HasPrefix(recorded[0], "Warning ReviewOverdue") || !strings.HasPrefix(recorded[1], "Normal Attested carol attested") {
		t.Errorf("events %q, want one ReviewOverdue then one Attested", recorded)
	}
	rec.Events = make(chan string, 10)
	if len(trail.records) != 1 {
		t.Fatalf("audit lines %+v, want one for carol's attestation", trail.records)
	}
	if a := trail.records[0]; a.Event != accessv1alpha1.ReasonAttested || a.Attestation != "by-carol" || a.Namespace != "payments" ||
		a.Policy != "payments" || a.Request != "" || len(a.Reviewers) != 1 || a.Reviewers[0].Username != "carol" ||
		a.Reviewers[0].Decision != string(accessv1alpha1.DecisionAttest) || !strings.Contains(a.Message, "next review is due at") {
		t.Errorf("attestation audit line %+v", a)
	}

	// Removing the review clears what it wrote.
	got.Spec.Review = nil
	if err := c.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	got, requeue = step(92 * reviewDay)
	if got.Status.ReviewDueAt != nil || got.Status.LastReviewed != nil || requeue != 0 ||
		meta.FindStatusCondition(got.Status.Conditions, accessv1alpha1.ConditionReviewDue) != nil {
		t.Errorf("without a review: status %+v, requeue %s", got.Status, requeue)
	}
}

// recordingSink keeps the audit records written to it.
type recordingSink struct{ records []audit.Record }

func (s *recordingSink) Write(_ context.Context, r audit.Record) { s.records = append(s.records, r) }
