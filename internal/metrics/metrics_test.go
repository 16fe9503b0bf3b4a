package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/internal/scheme"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// request is a request in payments under policy with the given conditions.
func request(name, policy string, conds ...metav1.Condition) *accessv1alpha1.AccessRequest {
	return &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "payments", CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
		Status:     accessv1alpha1.AccessRequestStatus{Policy: policy, Conditions: conds},
	}
}

func cond(t string, s metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: t, Status: s, Reason: reason, LastTransitionTime: metav1.NewTime(now)}
}

var (
	grantedCond    = cond(accessv1alpha1.ConditionReady, metav1.ConditionTrue, accessv1alpha1.ReasonGranted)
	expiredCond    = cond(accessv1alpha1.ConditionReady, metav1.ConditionTrue, accessv1alpha1.ReasonExpired)
	breakGlassCond = cond(accessv1alpha1.ConditionBreakGlass, metav1.ConditionTrue, accessv1alpha1.ReasonBreakGlass)
	reviewPending  = cond(accessv1alpha1.ConditionReviewed, metav1.ConditionFalse, accessv1alpha1.ReasonReviewPending)
	acknowledged   = cond(accessv1alpha1.ConditionReviewed, metav1.ConditionTrue, accessv1alpha1.ReasonAcknowledged)
)

func collector(objs ...client.Object) *metrics.StateCollector {
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objs...).Build()
	return metrics.NewStateCollector(c, clocktesting.NewFakePassiveClock(now))
}

func TestStateCollectorExportsUnreviewedBreakGlass(t *testing.T) {
	c := collector(
		request("bg-1", "payments", grantedCond, breakGlassCond, reviewPending),
		request("bg-2", "payments", expiredCond, breakGlassCond, reviewPending),
		request("bg-3", "payments", grantedCond, breakGlassCond, acknowledged),
		request("bg-4", "ledger", grantedCond, breakGlassCond, reviewPending),
		request("plain", "ledger", grantedCond),
	)
	want := `
# HELP rolegate_break_glass_unreviewed Break-glass grants no eligible reviewer has acknowledged yet.
# TYPE rolegate_break_glass_unreviewed gauge
rolegate_break_glass_unreviewed{policy="ledger"} 1
rolegate_break_glass_unreviewed{policy="payments"} 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), metrics.UnreviewedBreakGlass); err != nil {
		t.Error(err)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP rolegate_active_grants AccessRequests whose access is granted now.
# TYPE rolegate_active_grants gauge
rolegate_active_grants{policy="ledger"} 2
rolegate_active_grants{policy="payments"} 2
`), metrics.ActiveGrants); err != nil {
		t.Errorf("break-glass grants are active grants too: %v", err)
	}
}

func TestStateCollectorHasNoUnreviewedSeriesWhenAllAreAcknowledged(t *testing.T) {
	c := collector(
		request("bg", "payments", grantedCond, breakGlassCond, acknowledged),
		request("plain", "payments", grantedCond),
	)
	if n := testutil.CollectAndCount(c, metrics.UnreviewedBreakGlass); n != 0 {
		t.Errorf("%s has %d series, want none", metrics.UnreviewedBreakGlass, n)
	}
	// The collector still reports: the overdue gauge is always there.
	if n := testutil.CollectAndCount(c, metrics.OverdueGrants); n != 1 {
		t.Errorf("%s has %d series, want 1", metrics.OverdueGrants, n)
	}
}

func TestRecorderCountsBreakGlassAndNotificationFailures(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	rec, err := metrics.NewRecorder(reg)
	if err != nil {
		t.Fatal(err)
	}
	rec.BreakGlass("payments")
	rec.BreakGlass("payments")
	rec.BreakGlass("ledger")
	rec.NotificationFailed("payments", "slack")
	rec.NotificationFailed("payments", "slack")
	rec.NotificationFailed("payments", "pager")
	rec.NotificationFailed("ledger", "slack")

	want := `
# HELP rolegate_break_glass_total Break-glass grants: access given at once, without approval, to be reviewed afterwards.
# TYPE rolegate_break_glass_total counter
rolegate_break_glass_total{policy="ledger"} 1
rolegate_break_glass_total{policy="payments"} 2
# HELP rolegate_notification_failures_total Notifications a target did not accept after every retry.
# TYPE rolegate_notification_failures_total counter
rolegate_notification_failures_total{policy="ledger",target="slack"} 1
rolegate_notification_failures_total{policy="payments",target="pager"} 1
rolegate_notification_failures_total{policy="payments",target="slack"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), metrics.BreakGlassTotal, metrics.NotificationFailures); err != nil {
		t.Error(err)
	}
}

func TestNilRecorderIgnoresBreakGlassAndNotificationFailures(t *testing.T) {
	var rec *metrics.Recorder // metrics disabled
	rec.BreakGlass("payments")
	rec.NotificationFailed("payments", "slack")
}
