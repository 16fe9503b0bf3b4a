package controller

import (
	"context"
	"time"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/notify"
	"rolegate.dev/rolegate/internal/policy"
)

// notifyTransitions tells the policy's notification targets about what a
// reconcile changed: a request waiting for its deciding tier, an
// escalation, a grant or an extension, a break-glass grant, and the end of
// access. Delivery is asynchronous and never holds up the reconcile; Keys
// keep an announcement repeated after a cut-short write from notifying twice.
func (r *AccessRequestReconciler) notifyTransitions(ctx context.Context, before, after *accessv1alpha1.AccessRequest, w *world,
	ts []transition) {
	if r.Notifier == nil || after.Status.Policy == "" {
		return
	}
	base := notificationFor(after)
	base.Links = policy.TicketLinks(w.eval.Policy, after)
	send := func(ev accessv1alpha1.NotificationEvent, key, msg string, recipients []accessv1alpha1.Subject, targets []string) {
		n := base
		n.Event, n.Key, n.Message, n.Recipients, n.Targets = ev, string(after.UID)+"/"+key, msg, recipients, targets
		r.Notifier.Notify(ctx, n)
	}
	ready := findCondition(after.Status.Conditions, accessv1alpha1.ConditionReady)
	if ready != nil && ready.Reason == accessv1alpha1.ReasonPendingApproval &&
		conditionReason(before.Status.Conditions, accessv1alpha1.ConditionReady) != accessv1alpha1.ReasonPendingApproval {
		send(accessv1alpha1.NotifyPending, "Pending", ready.Message, tierSubjects(w.eval, w.eval.Tally.Tier.Index), nil)
	}
	for _, t := range ts {
		switch t.reason {
		case accessv1alpha1.ReasonEscalated:
			send(accessv1alpha1.NotifyEscalated, "Escalated/"+after.Status.Tier, t.message, tierSubjects(w.eval, w.eval.Tally.Tier.Index), nil)
		case accessv1alpha1.ReasonGranted:
			send(accessv1alpha1.NotifyGranted, "Granted", t.message, nil, nil)
		case accessv1alpha1.ReasonExtended:
			send(accessv1alpha1.NotifyGranted, "Extended/"+after.Status.ExpiresAt.UTC().Format(time.RFC3339), t.message, nil, nil)
		case accessv1alpha1.ReasonBreakGlass:
			var targets []string
			if bg := policy.BreakGlassOf(w.eval.Entitlement, after); bg != nil {
				targets = bg.Notify
			}
			send(accessv1alpha1.NotifyBreakGlass, "BreakGlass", t.message, tierSubjects(w.eval, w.eval.Tally.Tier.Index), targets)
		case accessv1alpha1.ReasonExpired, accessv1alpha1.ReasonRevoked:
			send(accessv1alpha1.NotifyRevoked, "Revoked", t.message, nil, nil)
		}
	}
}

// notifyExpiring sends Expiring to the targets whose lead time before the
// grant's expiry has begun, and returns when the next target's begins
// (zero if none is left).
func (r *AccessRequestReconciler) notifyExpiring(ctx context.Context, ar *accessv1alpha1.AccessRequest, w *world) time.Time {
	if r.Notifier == nil || w.eval.Policy == nil || ar.Status.ExpiresAt == nil {
		return time.Time{}
	}
	expires := ar.Status.ExpiresAt.Time
	due, next := notify.ExpiringDue(w.eval.Policy, expires, w.now)
	if len(due) > 0 {
		n := notificationFor(ar)
		n.Event, n.Targets = accessv1alpha1.NotifyExpiring, due
		n.Links = policy.TicketLinks(w.eval.Policy, ar)
		n.Key = string(ar.UID) + "/Expiring/" + expires.UTC().Format(time.RFC3339)
		n.Message = "access ends at " + expires.UTC().Format(time.RFC3339) + "; " + bindingDescription(ar)
		r.Notifier.Notify(ctx, n)
	}
	return next
}

func notificationFor(ar *accessv1alpha1.AccessRequest) notify.Notification {
	n := notify.Notification{
		Policy:         ar.Status.Policy,
		Request:        notify.RequestRef{Namespace: ar.Namespace, Name: ar.Name, UID: ar.UID},
		ServiceAccount: policy.ServiceAccountNamespace(ar) + "/" + ar.Spec.ServiceAccount.Name,
		Role:           ar.Spec.RoleRef.String(),
		Requester:      requesterName(ar),
		Tier:           ar.Status.Tier,
	}
	if ar.Status.ExpiresAt != nil {
		t := ar.Status.ExpiresAt.Time
		n.ExpiresAt = &t
	}
	return n
}

// tierSubjects are who may act for tier i of the evaluated policy: that
// tier's subjects (later tiers may act too, and hear about escalations).
func tierSubjects(e policy.Result, i int) []accessv1alpha1.Subject {
	if e.Policy == nil || i < 0 || i >= len(e.Policy.Spec.Approvers) {
		return nil
	}
	return e.Policy.Spec.Approvers[i].Subjects
}
