package notify

import (
	"time"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// DefaultExpiringLeadTime is expiringLeadTime when a target does not set it.
const DefaultExpiringLeadTime = 10 * time.Minute

// ExpiringLeadTime is how long before expiresAt target t hears Expiring.
func ExpiringLeadTime(t accessv1alpha1.NotificationTarget) time.Duration {
	if t.ExpiringLeadTime != nil && t.ExpiringLeadTime.Duration > 0 {
		return t.ExpiringLeadTime.Duration
	}
	return DefaultExpiringLeadTime
}

// ExpiringDue schedules the Expiring notification of a grant that ends at
// expiresAt: due names the targets of p subscribed to Expiring whose lead
// time has begun at now, and next is when the next other target's lead
// time begins (zero when none is left). Once the grant has ended nothing
// is due: Revoked follows.
//
// Notify the due targets with Notification.Targets = due and a Key naming
// the request and expiresAt: each target then hears it once, and an
// extended grant is announced again.
func ExpiringDue(p *accessv1alpha1.ApprovalPolicy, expiresAt, now time.Time) (due []string, next time.Time) {
	if p == nil || !now.Before(expiresAt) {
		return nil, time.Time{}
	}
	for _, t := range Subscribed(p, accessv1alpha1.NotifyExpiring, nil) {
		starts := expiresAt.Add(-ExpiringLeadTime(t))
		if !now.Before(starts) {
			due = append(due, t.Name)
			continue
		}
		if next.IsZero() || starts.Before(next) {
			next = starts
		}
	}
	return due, next
}
