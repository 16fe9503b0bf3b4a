package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/audit"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/internal/policy"
)

// transition is one change worth an event and an audit line.
type transition struct {
	reason, eventType, action, message string
}

// Transition reasons that no condition reason names. The others are the
// condition reasons of accessv1alpha1 (ReasonApproved, ReasonGranted, ...):
// the event says what the condition now says.
const (
	reasonValidated = "Validated"
	reasonRejected  = "Rejected"
	reasonRestored  = "Restored"
)

// Transition actions: what the controller did, in the event's action field.
const (
	actionValidate = "Validate"
	actionApprove  = "Approve"
	actionDeny     = "Deny"
	actionEscalate = "Escalate"
	actionGrant    = "Grant"
	actionReview   = "Review"
	actionExtend   = "Extend"
	actionRevoke   = "Revoke"
	// actionReconcile: the controller failed before it could act.
	actionReconcile = "Reconcile"
)

// transitions compares a request's status before and after a reconcile.
func transitions(before, after *accessv1alpha1.AccessRequest, restored bool) []transition {
	var out []transition
	out = append(out, decisionTransitions(before, after)...)
	out = append(out, grantTransitions(before, after, restored)...)
	if t, ok := revocationTransition(before, after); ok {
		if before.Status.GrantedAt == nil && after.Status.GrantedAt != nil {
			// Granted and ended in one pass: the grant was made by a pass
			// that stopped before recording it. Announce it before its end.
			out = append(out, transition{accessv1alpha1.ReasonGranted, corev1.EventTypeNormal, actionGrant,
				fmt.Sprintf("%s from %s (the pass that granted it stopped before recording it)",
					bindingDescription(after), after.Status.GrantedAt.UTC().Format(time.RFC3339))})
		}
		out = append(out, t)
	}
	return out
}

// conditionChanged returns condition t of after, and whether it is set and
// its status or reason differs from before's.
func conditionChanged(before, after *accessv1alpha1.AccessRequest, t string) (*metav1.Condition, bool) {
	c := findCondition(after.Status.Conditions, t)
	old := findCondition(before.Status.Conditions, t)
	return c, c != nil && (old == nil || old.Status != c.Status || old.Reason != c.Reason)
}

// decisionTransitions are the steps towards a grant: validation, the
// approval decision and escalations to a later tier.
func decisionTransitions(before, after *accessv1alpha1.AccessRequest) []transition {
	var out []transition
	if c, ok := conditionChanged(before, after, accessv1alpha1.ConditionValidated); ok {
		if c.Status == metav1.ConditionTrue {
			out = append(out, transition{reasonValidated, corev1.EventTypeNormal, actionValidate, c.Message})
		} else {
			out = append(out, transition{reasonRejected, corev1.EventTypeWarning, actionValidate, c.Message})
		}
	}
	if c, ok := conditionChanged(before, after, accessv1alpha1.ConditionApproved); ok {
		switch {
		case c.Status == metav1.ConditionTrue:
			out = append(out, transition{accessv1alpha1.ReasonApproved, corev1.EventTypeNormal, actionApprove, c.Message})
		case c.Reason == accessv1alpha1.ReasonDenied:
			out = append(out, transition{accessv1alpha1.ReasonDenied, corev1.EventTypeNormal, actionDeny, c.Message})
		case c.Reason == accessv1alpha1.ReasonTimedOut:
			out = append(out, transition{accessv1alpha1.ReasonTimedOut, corev1.EventTypeWarning, actionApprove, c.Message})
		}
	}
	// Each hand-over to a later tier is an escalation, including a second
	// one while Escalated is already True.
	if c := findCondition(after.Status.Conditions, accessv1alpha1.ConditionEscalated); c != nil && c.Status == metav1.ConditionTrue &&
		before.Status.Tier != after.Status.Tier {
		msg := fmt.Sprintf("%s did not decide in time; %s", before.Status.Tier, c.Message)
		if before.Status.Tier == "" {
			msg = c.Message
		}
		out = append(out, transition{accessv1alpha1.ReasonEscalated, corev1.EventTypeNormal, actionEscalate, msg})
	}
	return out
}

// grantTransitions are the changes to access while it is given: a
// break-glass grant and its review, extensions, the grant itself, and a
// binding restored after someone else changed or deleted it.
func grantTransitions(before, after *accessv1alpha1.AccessRequest, restored bool) []transition {
	var out []transition
	if c, ok := conditionChanged(before, after, accessv1alpha1.ConditionBreakGlass); ok && c.Status == metav1.ConditionTrue {
		out = append(out, transition{accessv1alpha1.ReasonBreakGlass, corev1.EventTypeWarning, actionGrant, c.Message})
	}
	if c, ok := conditionChanged(before, after, accessv1alpha1.ConditionReviewed); ok && c.Status == metav1.ConditionTrue {
		out = append(out, transition{accessv1alpha1.ReasonAcknowledged, corev1.EventTypeNormal, actionReview, c.Message})
	}
	if n := len(after.Status.Extensions); n > len(before.Status.Extensions) && after.Status.ExpiresAt != nil {
		x := after.Status.Extensions[n-1]
		out = append(out, transition{accessv1alpha1.ReasonExtended, corev1.EventTypeNormal, actionExtend,
			fmt.Sprintf("%s extended the grant by %s; it now ends at %s", x.Request, x.Duration.Duration,
				after.Status.ExpiresAt.UTC().Format(time.RFC3339))})
	}
	if c, ok := conditionChanged(before, after, accessv1alpha1.ConditionGranted); ok && c.Status == metav1.ConditionTrue &&
		c.Reason == accessv1alpha1.ReasonExtended {
		out = append(out, transition{accessv1alpha1.ReasonExtended, corev1.EventTypeNormal, actionExtend, c.Message})
	} else if ok && c.Status == metav1.ConditionTrue {
		out = append(out, transition{accessv1alpha1.ReasonGranted, corev1.EventTypeNormal, actionGrant, c.Message})
	} else if restored && c != nil && c.Status == metav1.ConditionTrue {
		out = append(out, transition{reasonRestored, corev1.EventTypeWarning, actionGrant,
			bindingDescription(after) + " again: it had been changed or deleted by someone else"})
	} else if ok && c.Status == metav1.ConditionFalse && heldBack(c.Reason) {
		out = append(out, transition{c.Reason, corev1.EventTypeWarning, actionGrant, c.Message})
	}
	return out
}

// heldBack reports whether a Granted reason says an approved grant cannot
// be made until someone acts: a foreign binding holds its name, or the
// grantee ServiceAccount does not exist.
func heldBack(reason string) bool {
	return reason == accessv1alpha1.ReasonBindingConflict || reason == accessv1alpha1.ReasonServiceAccountNotFound
}

// revocationTransition is the end of access, when revokedAt was just set:
// Expired when the grant ran out, Revoked otherwise.
func revocationTransition(before, after *accessv1alpha1.AccessRequest) (transition, bool) {
	if after.Status.RevokedAt == nil || before.Status.RevokedAt != nil {
		return transition{}, false
	}
	c := findCondition(after.Status.Conditions, accessv1alpha1.ConditionGranted)
	reason := accessv1alpha1.ReasonRevoked
	if c.Reason == accessv1alpha1.ReasonExpired {
		reason = accessv1alpha1.ReasonExpired
	}
	return transition{reason, corev1.EventTypeNormal, actionRevoke, c.Message}, true
}

// announce emits an event, an audit line and metrics for each transition,
// and notifies the policy's targets.
func (r *AccessRequestReconciler) announce(ctx context.Context, before, after *accessv1alpha1.AccessRequest, w *world) {
	r.emit(ctx, before, after, w, transitions(before, after, w.restored), "")
}

// emit announces the given transitions: targets are notified, and each
// transition gets an event, an audit line and its metrics. The audit line's
// reason is auditReason when given, else the condition reason that says why.
func (r *AccessRequestReconciler) emit(
	ctx context.Context, before, after *accessv1alpha1.AccessRequest, w *world, ts []transition, auditReason string,
) {
	r.notifyTransitions(ctx, before, after, w, ts)
	for _, t := range ts {
		r.Recorder.Eventf(after, nil, t.eventType, t.reason, t.action, "%s", t.message)
		detail := auditReason
		switch {
		case detail != "":
		case t.reason == accessv1alpha1.ReasonRevoked || t.reason == accessv1alpha1.ReasonExpired:
			detail = conditionReason(after.Status.Conditions, accessv1alpha1.ConditionGranted)
		default:
			detail = conditionReason(after.Status.Conditions, accessv1alpha1.ConditionReady)
		}
		rec := auditRecord(after, t.reason, detail, t.message)
		rec.Links = policy.TicketLinks(w.eval.Policy, after)
		r.Audit.Write(ctx, rec)
		r.measure(t.reason, before, after, w)
	}
}

// measure records a transition in the metrics.
func (r *AccessRequestReconciler) measure(reason string, before, after *accessv1alpha1.AccessRequest, w *world) {
	m := r.Metrics
	p := after.Status.Policy
	created := after.CreationTimestamp.Time
	switch reason {
	case reasonRejected:
		m.Rejected(conditionReason(after.Status.Conditions, accessv1alpha1.ConditionValidated))
		m.Outcome(p, metrics.OutcomeRejected)
	case accessv1alpha1.ReasonApproved:
		decision := metrics.DecisionApproved
		switch conditionReason(after.Status.Conditions, accessv1alpha1.ConditionApproved) {
		case accessv1alpha1.ReasonAutoApproved:
			decision = metrics.DecisionAutoApproved
		case accessv1alpha1.ReasonBreakGlass:
			decision = metrics.DecisionBreakGlass
		}
		m.Decided(p, decision, w.eval.Tally.DecidedAt.Sub(created))
	case accessv1alpha1.ReasonDenied:
		m.Decided(p, metrics.DecisionDenied, w.eval.Tally.DecidedAt.Sub(created))
		m.Outcome(p, metrics.OutcomeDenied)
	case accessv1alpha1.ReasonTimedOut:
		m.Outcome(p, metrics.OutcomeTimedOut)
	case accessv1alpha1.ReasonBreakGlass:
		m.BreakGlass(p)
	case accessv1alpha1.ReasonEscalated:
		from := before.Status.Tier
		if from == "" && w.eval.Policy != nil {
			// First seen already escalated (e.g. after a restart): the hand-over
			// started at the first deciding tier.
			if i, ok := policy.DecidingTier(w.eval.Policy, w.eval.Sensitivity); ok {
				from = w.eval.Policy.Spec.Approvers[i].Name
			}
		}
		m.Escalated(p, from, after.Status.Tier)
	case accessv1alpha1.ReasonGranted:
		m.Granted(p, after.Status.GrantedAt.Sub(created))
		m.Outcome(p, metrics.OutcomeGranted)
	case accessv1alpha1.ReasonExpired:
		m.Outcome(p, metrics.OutcomeExpired)
		m.Revoked(w.now.Sub(after.Status.ExpiresAt.Time))
	case accessv1alpha1.ReasonRevoked:
		m.Outcome(p, metrics.OutcomeRevoked)
	case accessv1alpha1.ReasonBindingConflict, accessv1alpha1.ReasonServiceAccountNotFound:
		m.ReconcileError(reason)
	}
}

func auditRecord(ar *accessv1alpha1.AccessRequest, event, reason, msg string) audit.Record {
	rec := audit.Record{
		Event: event, Request: ar.Name, Namespace: ar.Namespace, UID: string(ar.UID),
		Policy: ar.Status.Policy, Role: ar.Spec.RoleRef.String(),
		ServiceAccount: policy.ServiceAccountNamespace(ar) + "/" + ar.Spec.ServiceAccount.Name,
		RoleBinding:    ar.Status.RoleBinding, Reason: reason, Message: msg,
		Tags: ar.Spec.Tags, Justification: ar.Spec.Justification,
		GrantedAt: timePtr(ar.Status.GrantedAt), ExpiresAt: timePtr(ar.Status.ExpiresAt), RevokedAt: timePtr(ar.Status.RevokedAt),
	}
	if rq := ar.Spec.Requester; rq != nil {
		rec.Requester, rec.Via = rq.Username, rq.Via
	}
	for _, a := range ar.Status.Approvals {
		rec.Reviewers = append(rec.Reviewers, audit.Reviewer{
			Username: a.Reviewer, Decision: string(a.Decision), Tier: a.Tier, Time: a.Time.UTC()})
	}
	return rec
}

func timePtr(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// failureAction is the event action of a failure reason.
func failureAction(reason string) string {
	switch reason {
	case accessv1alpha1.ReasonBindingFailed:
		return actionGrant
	case accessv1alpha1.ReasonRevocationFailed:
		return actionRevoke
	default:
		return actionReconcile
	}
}

// reportFailure tells about a failed reconcile: a Warning event on the
// request and rolegate_reconcile_errors_total. The error itself goes back
// to the workqueue, which retries with backoff.
func (r *AccessRequestReconciler) reportFailure(ar *accessv1alpha1.AccessRequest, err error) {
	reason := failureReason(err)
	r.Recorder.Eventf(ar, nil, corev1.EventTypeWarning, reason, failureAction(reason), "%s",
		conditionMessage(fmt.Sprintf("%s; retrying with backoff", err)))
	r.Metrics.ReconcileError(reason)
}
