package controller

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func TestScheduledStartGrantsOnTimeWithAFakeClock(t *testing.T) {
	objs := fixture()
	req := objs[len(objs)-2].(*accessv1alpha1.AccessRequest) // view-req, auto-approved
	start := metav1.NewTime(t0.Add(2 * time.Hour))
	req.Spec.StartTime = &start
	h := newHarness(t, interceptor.Funcs{}, objs...)

	res, err := h.reconcile(t, "view-req")
	if err != nil {
		t.Fatal(err)
	}
	// The clock stands at t0+1m: the grant is due in 1h59m.
	if res.RequeueAfter != 2*time.Hour-time.Minute {
		t.Errorf("RequeueAfter = %s, want 1h59m until startTime", res.RequeueAfter)
	}
	ar := h.request(t, "view-req")
	if readyReason(ar) != accessv1alpha1.ReasonScheduled || len(h.bindings(t)) != 0 {
		t.Fatalf("before startTime: Ready %s, %d bindings; want Scheduled and none", readyReason(ar), len(h.bindings(t)))
	}
	if c := findCondition(ar.Status.Conditions, accessv1alpha1.ConditionApproved); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Approved = %+v, want True while scheduled", c)
	}
	if msg := findCondition(ar.Status.Conditions, accessv1alpha1.ConditionReady).Message; !strings.Contains(msg, "2026-11-01T11:00:00Z") {
		t.Errorf("Ready message %q does not say when access starts", msg)
	}

	// One second early: still nothing.
	h.clock.SetTime(start.Add(-time.Second))
	if res, err = h.reconcile(t, "view-req"); err != nil || res.RequeueAfter != time.Second || len(h.bindings(t)) != 0 {
		t.Fatalf("a second early: %+v %v, %d bindings", res, err, len(h.bindings(t)))
	}

	// At startTime the binding appears, and expiresAt is startTime + duration.
	h.clock.SetTime(start.Time)
	if res, err = h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	ar = h.request(t, "view-req")
	if readyReason(ar) != accessv1alpha1.ReasonGranted || len(h.bindings(t)) != 1 {
		t.Fatalf("at startTime: Ready %s, %d bindings", readyReason(ar), len(h.bindings(t)))
	}
	if want := start.Add(time.Hour); !ar.Status.ExpiresAt.Time.Equal(want) || res.RequeueAfter != time.Hour {
		t.Errorf("expiresAt %s requeue %s, want %s and 1h", ar.Status.ExpiresAt, res.RequeueAfter, want)
	}
	if !ar.Status.GrantedAt.Time.Equal(start.Time) {
		t.Errorf("grantedAt %s, want startTime", ar.Status.GrantedAt)
	}

	// The window closes on time.
	h.clock.SetTime(start.Add(time.Hour))
	if _, err = h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	if ar = h.request(t, "view-req"); readyReason(ar) != accessv1alpha1.ReasonExpired || len(h.bindings(t)) != 0 {
		t.Fatalf("after the window: Ready %s, %d bindings", readyReason(ar), len(h.bindings(t)))
	}
}

func TestScheduledStartGrantedLateStillEndsOnTime(t *testing.T) {
	objs := fixture()
	req := objs[len(objs)-2].(*accessv1alpha1.AccessRequest)
	start := metav1.NewTime(t0.Add(time.Minute))
	req.Spec.StartTime = &start
	h := newHarness(t, interceptor.Funcs{}, objs...)
	// The manager was down from before startTime until 40 minutes after it.
	h.clock.SetTime(start.Add(40 * time.Minute))
	res, err := h.reconcile(t, "view-req")
	if err != nil {
		t.Fatal(err)
	}
	ar := h.request(t, "view-req")
	if want := start.Add(time.Hour); readyReason(ar) != accessv1alpha1.ReasonGranted || !ar.Status.ExpiresAt.Time.Equal(want) ||
		res.RequeueAfter != 20*time.Minute {
		t.Fatalf("Ready %s expiresAt %v requeue %s; want Granted until %s, 20m", readyReason(ar), ar.Status.ExpiresAt, res.RequeueAfter, want)
	}
}

func TestBreakGlassAcknowledgedAfterExpiryIsRecorded(t *testing.T) {
	objs := fixture()
	pol := objs[3].(*accessv1alpha1.ApprovalPolicy)
	pol.Spec.Entitlements[1].BreakGlass = &accessv1alpha1.BreakGlass{MaxDuration: metav1.Duration{Duration: 30 * time.Minute}}
	req := objs[len(objs)-1].(*accessv1alpha1.AccessRequest) // migrate-req
	req.Spec.Duration = metav1.Duration{Duration: 10 * time.Minute}
	req.Spec.Tags = map[string]string{"type": accessv1alpha1.BreakGlassTagValue}
	h := newHarness(t, interceptor.Funcs{}, objs...)
	if _, err := h.reconcile(t, "migrate-req"); err != nil {
		t.Fatal(err)
	}
	if ar := h.request(t, "migrate-req"); readyReason(ar) != accessv1alpha1.ReasonGranted ||
		conditionReason(ar.Status.Conditions, accessv1alpha1.ConditionReviewed) != accessv1alpha1.ReasonReviewPending {
		t.Fatalf("break-glass: Ready %s Reviewed %s", readyReason(ar), conditionReason(ar.Status.Conditions, accessv1alpha1.ConditionReviewed))
	}
	if evs := strings.Join(h.events(), "\n"); !strings.Contains(evs, "Warning BreakGlass") {
		t.Errorf("no Warning BreakGlass event:\n%s", evs)
	}
	h.clock.SetTime(t0.Add(time.Hour))
	if _, err := h.reconcile(t, "migrate-req"); err != nil {
		t.Fatal(err)
	}
	u := accessv1alpha1.UserInfo{Username: "carol", Groups: []string{"security-oncall"}}
	ack := &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{Name: "ack", Namespace: "payments", CreationTimestamp: metav1.NewTime(t0.Add(time.Hour))},
		Spec:       accessv1alpha1.AccessDecisionSpec{Request: "migrate-req", Decision: accessv1alpha1.DecisionAcknowledge, Reviewer: &u, Comment: "postmortem PM-7"},
	}
	if err := h.c.Create(t.Context(), ack); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reconcile(t, "migrate-req"); err != nil {
		t.Fatal(err)
	}
	ar := h.request(t, "migrate-req")
	if readyReason(ar) != accessv1alpha1.ReasonExpired || len(h.bindings(t)) != 0 {
		t.Fatalf("the review changed the ended grant: Ready %s, %d bindings", readyReason(ar), len(h.bindings(t)))
	}
	rev := findCondition(ar.Status.Conditions, accessv1alpha1.ConditionReviewed)
	if rev == nil || rev.Status != metav1.ConditionTrue || !strings.Contains(rev.Message, "postmortem PM-7") {
		t.Fatalf("Reviewed = %+v, want True quoting the comment", rev)
	}
	d := &accessv1alpha1.AccessDecision{}
	if err := h.c.Get(t.Context(), client.ObjectKeyFromObject(ack), d); err != nil {
		t.Fatal(err)
	}
	if c := findCondition(d.Status.Conditions, accessv1alpha1.ConditionCounted); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Counted = %+v, want True", c)
	}
	if !strings.Contains(h.audit.String(), `"event":"Acknowledged"`) {
		t.Error("no Acknowledged audit line")
	}
}
