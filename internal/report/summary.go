package report

import (
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// The figures that describe now rather than a window. The report's
// Pending, OldestPending, ActiveGrants, UnreviewedBreakGlass and
// OverdueGrants columns and the manager's scrape-time gauges
// (metrics.StateCollector) both read them from here, so they agree.

// PendingKey groups pending requests.
type PendingKey struct{ Policy, Tier string }

// Summary is the state of all requests at one moment.
type Summary struct {
	Pending       map[PendingKey]int
	OldestPending map[string]time.Duration
	Active        map[string]int
	// Unreviewed counts break-glass requests awaiting acknowledgement.
	Unreviewed map[string]int
}

// Summarize groups requests by their Ready reason.
func Summarize(requests []accessv1alpha1.AccessRequest, now time.Time) Summary {
	s := Summary{
		Pending:       map[PendingKey]int{},
		OldestPending: map[string]time.Duration{},
		Active:        map[string]int{},
		Unreviewed:    map[string]int{},
	}
	for i := range requests {
		r := &requests[i]
		if policy.AwaitsReview(r) {
			s.Unreviewed[r.Status.Policy]++
		}
		ready := meta.FindStatusCondition(r.Status.Conditions, accessv1alpha1.ConditionReady)
		if ready == nil {
			continue
		}
		switch ready.Reason {
		case accessv1alpha1.ReasonPendingApproval:
			s.Pending[PendingKey{r.Status.Policy, r.Status.Tier}]++
			if age := now.Sub(r.CreationTimestamp.Time); age > s.OldestPending[r.Status.Policy] {
				s.OldestPending[r.Status.Policy] = age
			}
		case accessv1alpha1.ReasonGranted:
			s.Active[r.Status.Policy]++
		}
	}
	return s
}

// CountOverdue counts managed bindings whose recorded expiry has passed.
func CountOverdue(bindings []rbacv1.RoleBinding, now time.Time) int {
	n := 0
	for i := range bindings {
		v, ok := bindings[i].Annotations[accessv1alpha1.ExpiresAtAnnotation]
		if !ok {
			continue
		}
		at, err := time.Parse(time.RFC3339, v)
		if err == nil && now.After(at) {
			n++
		}
	}
	return n
}
