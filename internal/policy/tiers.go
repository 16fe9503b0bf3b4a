package policy

import (
	"time"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// CanDecide reports whether a tier's authority covers the sensitivity.
func CanDecide(t *accessv1alpha1.ApproverTier, s accessv1alpha1.Sensitivity) bool {
	return t.MaxSensitivity == "" || t.MaxSensitivity.Rank() >= s.Rank()
}

// DecidingTier is the index of the first tier whose authority covers the
// sensitivity; false when no tier may decide it.
func DecidingTier(p *accessv1alpha1.ApprovalPolicy, s accessv1alpha1.Sensitivity) (int, bool) {
	return nextTier(p, s, -1)
}

func nextTier(p *accessv1alpha1.ApprovalPolicy, s accessv1alpha1.Sensitivity, after int) (int, bool) {
	for i := after + 1; i < len(p.Spec.Approvers); i++ {
		if CanDecide(&p.Spec.Approvers[i], s) {
			return i, true
		}
	}
	return -1, false
}

// TierState is which tier decides a pending request at a given time.
type TierState struct {
	// Index of the deciding tier in spec.approvers; -1 when none may decide.
	Index int
	// Since is when this tier started deciding.
	Since time.Time
	// Escalated is true once the request moved past its first deciding tier.
	Escalated bool
	// NextEscalation is when the tier passes the request on; zero if never.
	NextEscalation time.Time
}

// TierAt walks the escalation chain: a request opened at created is decided
// by its first deciding tier; each tier with escalateAfter hands it on to the
// next tier whose authority covers the sensitivity once that time has passed.
func TierAt(p *accessv1alpha1.ApprovalPolicy, s accessv1alpha1.Sensitivity, created, at time.Time) TierState {
	i, ok := DecidingTier(p, s)
	if !ok {
		return TierState{Index: -1}
	}
	st := TierState{Index: i, Since: created}
	for {
		t := &p.Spec.Approvers[st.Index]
		next, ok := nextTier(p, s, st.Index)
		if t.EscalateAfter == nil || !ok {
			return st
		}
		handOver := st.Since.Add(t.EscalateAfter.Duration)
		if at.Before(handOver) {
			st.NextEscalation = handOver
			return st
		}
		st = TierState{Index: next, Since: handOver, Escalated: true}
	}
}

// EligibleTier is the index of the first tier at or after from that lists
// the user; false when none does.
func EligibleTier(p *accessv1alpha1.ApprovalPolicy, from int, user accessv1alpha1.UserInfo) (int, bool) {
	if from < 0 {
		return -1, false
	}
	for i := from; i < len(p.Spec.Approvers); i++ {
		if MatchesAny(p.Spec.Approvers[i].Subjects, user) {
			return i, true
		}
	}
	return -1, false
}

// RequiredApprovals is how many distinct approvals the tier needs (at least one).
func RequiredApprovals(t *accessv1alpha1.ApproverTier) int {
	return max(int(t.RequiredApprovals), 1)
}
