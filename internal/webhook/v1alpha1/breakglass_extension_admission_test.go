package v1alpha1_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/test/utils"
)

func breakGlass(p *accessv1alpha1.ApprovalPolicy) {
	p.Spec.Entitlements[0].BreakGlass = &accessv1alpha1.BreakGlass{MaxDuration: metav1.Duration{Duration: 30 * time.Minute}}
}

func (tm *team) openBreakGlass(t *testing.T, name string, d time.Duration) error {
	t.Helper()
	r := tm.requestObject(name)
	r.Spec.Tags["type"] = accessv1alpha1.BreakGlassTagValue
	r.Spec.Duration = metav1.Duration{Duration: d}
	return as(t, "alice", devs...).Create(t.Context(), r)
}

func TestBreakGlassAdmission(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t, breakGlass)
	refused(t, tm.openBreakGlass(t, "too-long", 45*time.Minute),
		"spec.duration:", "break-glass maxDuration 30m0s", "drop the type: break-glass tag")

	utils.Must(t, tm.openBreakGlass(t, "outage", 20*time.Minute))
	tm.waitReady(t, "outage", accessv1alpha1.ReasonGranted)

	_, err := tm.decide(t, "outage", accessv1alpha1.DecisionApprove, "carol", security...)
	refused(t, err, "spec.request:", "review it with an Acknowledge decision", "(RequestNotPending)")
	_, err = tm.decide(t, "outage", accessv1alpha1.DecisionAcknowledge, "alice", append(security, devs...)...)
	refused(t, err, "spec.reviewer:", "alice opened this break-glass request and may not review it", "(SelfApproval)")
	_, err = tm.decide(t, "outage", accessv1alpha1.DecisionAcknowledge, "olivia", owners...)
	refused(t, err, "spec.reviewer:", "olivia may not review this break-glass grant", "(NotEligible)")
	_, err = tm.decide(t, "outage", accessv1alpha1.DecisionAcknowledge, "carol", security...)
	utils.Must(t, err)
}

func TestBreakGlassCanBeAcknowledgedAfterItEnded(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t, breakGlass)
	utils.Must(t, tm.openBreakGlass(t, "brief", 2*time.Second))
	tm.waitReady(t, "brief", accessv1alpha1.ReasonExpired)
	_, err := tm.decide(t, "brief", accessv1alpha1.DecisionAcknowledge, "carol", security...)
	utils.Must(t, err)
	// Everything else stays refused on the closed request.
	_, err = tm.decide(t, "brief", accessv1alpha1.DecisionRevoke, "carol", security...)
	refused(t, err, "spec.request:", "is closed")
}

func TestAcknowledgeOnAnOrdinaryRequestIsRefused(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	tm.open(t, "migrate", "alice", devs...)
	_, err := tm.decide(t, "migrate", accessv1alpha1.DecisionAcknowledge, "carol", security...)
	refused(t, err, "only break-glass grants are acknowledged", "(NotBreakGlass)")
}

func TestExtensionAdmission(t *testing.T) {
	utils.RequireEnvtest(t)
	off := newTeam(t)
	r := off.requestObject("more")
	r.Spec.Extends = "anything"
	refused(t, as(t, "alice", devs...).Create(t.Context(), r),
		"spec.extends:", "does not allow extensions (maxExtensions is 0)")

	on := newTeam(t, func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.MaxExtensions = 1 })
	r = on.requestObject("more")
	r.Spec.Extends = "missing"
	refused(t, as(t, "alice", devs...).Create(t.Context(), r), "spec.extends:", "AccessRequest missing does not exist")

	on.open(t, "pending", "alice", devs...)
	r = on.requestObject("more")
	r.Spec.Extends = "pending"
	refused(t, as(t, "alice", devs...).Create(t.Context(), r), "spec.extends:", "pending does not hold an active grant")

	r = on.requestObject("more")
	r.Spec.Extends = "pending"
	start := metav1.NewTime(time.Now().Add(time.Hour))
	r.Spec.StartTime = &start
	refused(t, as(t, "alice", devs...).Create(t.Context(), r), "spec.startTime:", "remove startTime")
}

func TestScheduledStartAdmission(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	r := tm.requestObject("past")
	past := metav1.NewTime(time.Now().Add(-2 * time.Hour))
	r.Spec.StartTime = &past
	refused(t, as(t, "alice", devs...).Create(t.Context(), r), "spec.startTime:", "has already ended", "set a later startTime")

	r = tm.requestObject("later")
	later := metav1.NewTime(time.Now().Add(24 * time.Hour))
	r.Spec.StartTime = &later
	utils.Must(t, as(t, "alice", devs...).Create(t.Context(), r))
}
