package report

import (
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

var acknowledged = cond(accessv1alpha1.ConditionReviewed, metav1.ConditionTrue, accessv1alpha1.ReasonAcknowledged)

func TestSummarizeCountsUnreviewedBreakGlass(t *testing.T) {
	tests := []struct {
		name     string
		requests []accessv1alpha1.AccessRequest
		want     map[string]int
	}{
		{
			name:     "a break-glass grant awaiting review counts",
			requests: []accessv1alpha1.AccessRequest{req("bg", "payments", time.Hour, breakGlass)},
			want:     map[string]int{"payments": 1},
		},
		{
			name:     "an acknowledged break-glass grant does not count",
			requests: []accessv1alpha1.AccessRequest{req("bg", "payments", time.Hour, breakGlass, acknowledged)},
			want:     map[string]int{},
		},
		{
			name:     "a request without a Reviewed condition does not count",
			requests: []accessv1alpha1.AccessRequest{req("plain", "payments", time.Hour, granted)},
			want:     map[string]int{},
		},
		{
			name: "a Reviewed condition that is False for another reason does not count",
			requests: []accessv1alpha1.AccessRequest{req("odd", "payments", time.Hour, breakGlass,
				cond(accessv1alpha1.ConditionReviewed, metav1.ConditionFalse, "SomethingElse"))},
			want: map[string]int{},
		},
		{
			name:     "a break-glass grant that expired unreviewed still counts: the review is still owed",
			requests: []accessv1alpha1.AccessRequest{req("bg", "payments", time.Hour, breakGlass, expired)},
			want:     map[string]int{"payments": 1},
		},
		{
			name: "counts are per policy",
			requests: []accessv1alpha1.AccessRequest{
				req("a", "payments", time.Hour, breakGlass),
				req("b", "payments", time.Hour, breakGlass),
				req("c", "payments", time.Hour, breakGlass, acknowledged),
				req("d", "ledger", time.Hour, breakGlass),
				req("e", "ledger", time.Hour, granted),
			},
			want: map[string]int{"payments": 2, "ledger": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Summarize(tt.requests, now).Unreviewed
			if len(got) != len(tt.want) {
				t.Errorf("Unreviewed = %v, want %v", got, tt.want)
			}
			for p, n := range tt.want {
				if got[p] != n {
					t.Errorf("Unreviewed[%s] = %d, want %d (all: %v)", p, got[p], n, got)
				}
			}
		})
	}
}

func TestSummarizeCountsPendingByTierAndActiveGrants(t *testing.T) {
	atTier := func(tier string) opt { return func(r *accessv1alpha1.AccessRequest) { r.Status.Tier = tier } }
	s := Summarize([]accessv1alpha1.AccessRequest{
		req("p1", "payments", time.Hour, pending, atTier("app-owners")),
		req("p2", "payments", 3*time.Hour, pending, atTier("app-owners")),
		req("p3", "payments", 2*time.Hour, pending, atTier("security")),
		req("g1", "payments", time.Hour, granted),
		req("g2", "ledger", time.Hour, granted),
		req("x", "ledger", time.Hour, expired),
		req("d", "ledger", 5*time.Hour, denied),
	}, now)
	wantPending := map[PendingKey]int{{"payments", "app-owners"}: 2, {"payments", "security"}: 1}
	if len(s.Pending) != len(wantPending) {
		t.Errorf("Pending = %v, want %v", s.Pending, wantPending)
	}
	for k, n := range wantPending {
		if s.Pending[k] != n {
			t.Errorf("Pending[%v] = %d, want %d", k, s.Pending[k], n)
		}
	}
	if got := s.OldestPending["payments"]; got != 3*time.Hour {
		t.Errorf("OldestPending[payments] = %s, want 3h (the oldest pending request, whatever its tier)", got)
	}
	if _, ok := s.OldestPending["ledger"]; ok {
		t.Errorf("OldestPending has ledger, which has no pending request: %v", s.OldestPending)
	}
	if s.Active["payments"] != 1 || s.Active["ledger"] != 1 || len(s.Active) != 2 {
		t.Errorf("Active = %v, want payments 1 and ledger 1 (an expired grant is not active)", s.Active)
	}
}

func TestCountOverdue(t *testing.T) {
	unannotated := binding("plain", time.Hour)
	delete(unannotated.Annotations, accessv1alpha1.ExpiresAtAnnotation)
	garbled := binding("garbled", -time.Hour)
	garbled.Annotations[accessv1alpha1.ExpiresAtAnnotation] = "yesterday"
	bindings := []rbacv1.RoleBinding{
		binding("late-1", -time.Minute), binding("late-2", -time.Hour), binding("on-time", time.Minute),
		unannotated, garbled,
	}
	if n := CountOverdue(bindings, now); n != 2 {
		t.Errorf("CountOverdue = %d, want 2: only bindings whose expires-at annotation parses and is past", n)
	}
}
