package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/audit"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/internal/policy"
)

func setCondition(ar *accessv1alpha1.AccessRequest, t string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&ar.Status.Conditions, metav1.Condition{
		Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: ar.Generation,
	})
}

func findCondition(conds []metav1.Condition, t string) *metav1.Condition {
	return meta.FindStatusCondition(conds, t)
}

// conditionReason is the reason of a condition, or "" when it is absent.
func conditionReason(conds []metav1.Condition, t string) string {
	if c := meta.FindStatusCondition(conds, t); c != nil {
		return c.Reason
	}
	return ""
}

func statusEqual(a, b any) bool { return equality.Semantic.DeepEqual(a, b) }

// setEvaluatedStatus records what evaluation found: Validated, Approved,
// Escalated, the policy, sensitivity, deciding tier and counted decisions.
func setEvaluatedStatus(ar *accessv1alpha1.AccessRequest, e policy.Result) {
	ar.Status.Policy = ""
	if e.Policy != nil {
		ar.Status.Policy = e.Policy.Name
	}
	ar.Status.EffectiveSensitivity = e.Sensitivity
	ar.Status.Tier = ""
	if e.Policy != nil && e.Tally.Tier.Index >= 0 && e.Tally.Tier.Index < len(e.Policy.Spec.Approvers) {
		ar.Status.Tier = e.Policy.Spec.Approvers[e.Tally.Tier.Index].Name
	}
	ar.Status.Approvals = e.Tally.Records

	if len(e.Violations) > 0 {
		msgs := make([]string, 0, len(e.Violations))
		for _, v := range e.Violations {
			msgs = append(msgs, v.Error())
		}
		setCondition(ar, accessv1alpha1.ConditionValidated, metav1.ConditionFalse, e.Violations[0].Reason, strings.Join(msgs, "; "))
		setCondition(ar, accessv1alpha1.ConditionApproved, metav1.ConditionUnknown, accessv1alpha1.ReasonInvalid,
			"approval is not evaluated until the request passes validation")
		meta.RemoveStatusCondition(&ar.Status.Conditions, accessv1alpha1.ConditionEscalated)
		return
	}
	setCondition(ar, accessv1alpha1.ConditionValidated, metav1.ConditionTrue, accessv1alpha1.ReasonValid,
		fmt.Sprintf("the request passes ApprovalPolicy %q", e.Policy.Name))

	switch e.Tally.State {
	case policy.StatePending:
		setCondition(ar, accessv1alpha1.ConditionApproved, metav1.ConditionUnknown, accessv1alpha1.ReasonPendingApproval,
			pendingMessage(e))
	case policy.StateDenied:
		last := e.Tally.Records[len(e.Tally.Records)-1]
		setCondition(ar, accessv1alpha1.ConditionApproved, metav1.ConditionFalse, accessv1alpha1.ReasonDenied,
			strings.TrimSuffix(fmt.Sprintf("denied by %s for tier %s: %s", last.Reviewer, last.Tier, last.Comment), ": "))
	case policy.StateTimedOut:
		setCondition(ar, accessv1alpha1.ConditionApproved, metav1.ConditionFalse, accessv1alpha1.ReasonTimedOut,
			fmt.Sprintf("no decision within the pendingTimeout of ApprovalPolicy %q", e.Policy.Name))
	default: // approved, possibly revoked since
		if e.Tally.BreakGlass {
			setCondition(ar, accessv1alpha1.ConditionApproved, metav1.ConditionTrue, accessv1alpha1.ReasonBreakGlass,
				fmt.Sprintf("granted at once as break-glass access under ApprovalPolicy %q, without approval; "+
					"an eligible reviewer acknowledges it afterwards", e.Policy.Name))
		} else if e.Entitlement.AutoApprove {
			setCondition(ar, accessv1alpha1.ConditionApproved, metav1.ConditionTrue, accessv1alpha1.ReasonAutoApproved,
				fmt.Sprintf("%s is auto-approved by ApprovalPolicy %q", e.Entitlement.RoleRef, e.Policy.Name))
		} else {
			setCondition(ar, accessv1alpha1.ConditionApproved, metav1.ConditionTrue, accessv1alpha1.ReasonApproved,
				"approved by "+approvers(e.Tally.Records))
		}
	}

	setBreakGlassConditions(ar, e)
	if e.Entitlement.AutoApprove || e.Tally.BreakGlass {
		meta.RemoveStatusCondition(&ar.Status.Conditions, accessv1alpha1.ConditionEscalated)
	} else if e.Tally.Tier.Escalated {
		setCondition(ar, accessv1alpha1.ConditionEscalated, metav1.ConditionTrue, accessv1alpha1.ReasonEscalated,
			fmt.Sprintf("tier %s decides since %s", ar.Status.Tier, e.Tally.Tier.Since.UTC().Format(time.RFC3339)))
	} else {
		setCondition(ar, accessv1alpha1.ConditionEscalated, metav1.ConditionFalse, accessv1alpha1.ReasonFirstTier,
			fmt.Sprintf("tier %s decides", ar.Status.Tier))
	}
}

// setBreakGlassConditions marks a break-glass request and its review.
func setBreakGlassConditions(ar *accessv1alpha1.AccessRequest, e policy.Result) {
	if !e.Tally.BreakGlass {
		meta.RemoveStatusCondition(&ar.Status.Conditions, accessv1alpha1.ConditionBreakGlass)
		meta.RemoveStatusCondition(&ar.Status.Conditions, accessv1alpha1.ConditionReviewed)
		return
	}
	setCondition(ar, accessv1alpha1.ConditionBreakGlass, metav1.ConditionTrue, accessv1alpha1.ReasonBreakGlass,
		fmt.Sprintf("break-glass access to %s for ServiceAccount %s/%s, requested by %s: %s", ar.Spec.RoleRef,
			policy.ServiceAccountNamespace(ar), ar.Spec.ServiceAccount.Name, requesterName(ar), ar.Spec.Justification))
	setReviewedCondition(ar, &e.Tally)
}

// setReviewedCondition records whether a break-glass grant was acknowledged.
func setReviewedCondition(ar *accessv1alpha1.AccessRequest, t *policy.Tally) {
	if a := t.Acknowledged; a != nil {
		setCondition(ar, accessv1alpha1.ConditionReviewed, metav1.ConditionTrue, accessv1alpha1.ReasonAcknowledged,
			strings.TrimSuffix(fmt.Sprintf("acknowledged by %s (tier %s) at %s: %s", a.Reviewer, a.Tier,
				a.Time.UTC().Format(time.RFC3339), a.Comment), ": "))
		return
	}
	msg := "waiting for an Acknowledge decision; no approver tier may review it"
	if t.Tier.Index >= 0 {
		msg = "waiting for an Acknowledge decision from tier " + ar.Status.Tier + " or a later tier"
	}
	setCondition(ar, accessv1alpha1.ConditionReviewed, metav1.ConditionFalse, accessv1alpha1.ReasonReviewPending, msg)
}

func requesterName(ar *accessv1alpha1.AccessRequest) string {
	if ar.Spec.Requester == nil {
		return "nobody"
	}
	return ar.Spec.Requester.Username
}

// extensionEnd is how an applied extension ended with the grant it
// extended: Expired when that grant expired, Revoked otherwise.
func extensionEnd(ar *accessv1alpha1.AccessRequest, w *world) (reason, msg string) {
	reason, msg = accessv1alpha1.ReasonRevoked, fmt.Sprintf("the grant it extended (%s) ended", ar.Spec.Extends)
	if t := w.target; t != nil && policy.Closed(t) {
		ready := findCondition(t.Status.Conditions, accessv1alpha1.ConditionReady)
		if ready != nil {
			msg += ": " + ready.Message
			if ready.Reason == accessv1alpha1.ReasonExpired {
				reason = accessv1alpha1.ReasonExpired
			}
		}
	} else if w.targetEval != nil && w.targetEval.Outcome == policy.OutcomeExpired {
		reason = accessv1alpha1.ReasonExpired
	}
	return reason, msg
}

// setExtensionStatus records whether an approved extension moved the expiry
// of the grant it extends, and returns how long until that expiry.
func setExtensionStatus(ar *accessv1alpha1.AccessRequest, w *world) time.Duration {
	te := w.targetEval
	var applied *accessv1alpha1.ExtensionRecord
	if te != nil && te.Outcome == policy.OutcomeGrant {
		for i := range te.Extensions {
			if te.Extensions[i].Request == ar.Name {
				applied = &te.Extensions[i]
			}
		}
	}
	if applied == nil && ar.Status.GrantedAt != nil {
		// It was applied, and the grant it extended has ended: so has the extension.
		now := metav1.NewTime(w.now)
		ar.Status.RevokedAt = &now
		reason, msg := extensionEnd(ar, w)
		setAccessEnded(ar, reason, msg)
		return 0
	}
	if applied == nil {
		reason, why := accessv1alpha1.ReasonExtendsInvalid, ar.Spec.Extends+" does not hold an active grant"
		if te != nil {
			if refused, ok := te.RefusedExtensions[ar.Name]; ok {
				reason, why = accessv1alpha1.ReasonExtensionLimitReached, refused
			}
		}
		msg := fmt.Sprintf("%s: the extension was approved but not applied to %s: %s", policy.FieldExtends, ar.Spec.Extends, why)
		setCondition(ar, accessv1alpha1.ConditionValidated, metav1.ConditionFalse, reason, msg)
		ar.Status.GrantedAt, ar.Status.ExpiresAt, ar.Status.RoleBinding = nil, nil, ""
		setCondition(ar, accessv1alpha1.ConditionGranted, metav1.ConditionFalse, accessv1alpha1.ReasonNotGranted, msg)
		setCondition(ar, accessv1alpha1.ConditionExpired, metav1.ConditionFalse, accessv1alpha1.ReasonNotExpired, "the extension was not applied")
		setCondition(ar, accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonInvalid, msg)
		return 0
	}
	approvedAt := applied.ApprovedAt
	expires := metav1.NewTime(te.ExpiresAt)
	ar.Status.GrantedAt, ar.Status.ExpiresAt = &approvedAt, &expires
	ar.Status.RoleBinding = BindingName(w.target)
	msg := fmt.Sprintf("extends %s by %s: RoleBinding %s now runs until %s", ar.Spec.Extends, applied.Duration.Duration,
		ar.Status.RoleBinding, te.ExpiresAt.UTC().Format(time.RFC3339))
	setCondition(ar, accessv1alpha1.ConditionGranted, metav1.ConditionTrue, accessv1alpha1.ReasonExtended, msg)
	setCondition(ar, accessv1alpha1.ConditionExpired, metav1.ConditionFalse, accessv1alpha1.ReasonNotExpired,
		"access expires at "+te.ExpiresAt.UTC().Format(time.RFC3339))
	setCondition(ar, accessv1alpha1.ConditionReady, metav1.ConditionTrue, accessv1alpha1.ReasonExtended, msg)
	return te.ExpiresAt.Sub(w.now)
}

func pendingMessage(e policy.Result) string {
	i := e.Tally.Tier.Index
	t := &e.Policy.Spec.Approvers[i]
	have := 0
	for _, rec := range e.Tally.Records {
		if rec.Decision == accessv1alpha1.DecisionApprove {
			if k := tierIndex(e.Policy, rec.Tier); k >= i {
				have++
			}
		}
	}
	msg := fmt.Sprintf("waiting for %d of %d approvals from tier %s (%s) or a later tier",
		policy.RequiredApprovals(t)-have, policy.RequiredApprovals(t), t.Name, policy.FormatSubjects(t.Subjects))
	if !e.Tally.Tier.NextEscalation.IsZero() {
		msg += "; escalates at " + e.Tally.Tier.NextEscalation.UTC().Format(time.RFC3339)
	}
	return msg
}

func tierIndex(p *accessv1alpha1.ApprovalPolicy, name string) int {
	for i := range p.Spec.Approvers {
		if p.Spec.Approvers[i].Name == name {
			return i
		}
	}
	return -1
}

func approvers(records []accessv1alpha1.ApprovalRecord) string {
	var names []string
	for _, r := range records {
		if r.Decision == accessv1alpha1.DecisionApprove {
			names = append(names, fmt.Sprintf("%s (%s)", r.Reviewer, r.Tier))
		}
	}
	return strings.Join(names, ", ")
}

func bindingDescription(ar *accessv1alpha1.AccessRequest) string {
	return fmt.Sprintf("RoleBinding %s binds %s to ServiceAccount %s/%s", BindingName(ar), ar.Spec.RoleRef,
		policy.ServiceAccountNamespace(ar), ar.Spec.ServiceAccount.Name)
}

// setGrantStatus records an active grant.
func setGrantStatus(ar *accessv1alpha1.AccessRequest, w *world) {
	if w.conflict != "" {
		msg := fmt.Sprintf("a RoleBinding named %s exists and is not controlled by this request; "+
			"delete it or re-create the request under another name", w.conflict)
		setCondition(ar, accessv1alpha1.ConditionGranted, metav1.ConditionFalse, accessv1alpha1.ReasonBindingConflict, msg)
		setCondition(ar, accessv1alpha1.ConditionExpired, metav1.ConditionFalse, accessv1alpha1.ReasonNotExpired, "access has not been granted")
		setCondition(ar, accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonBindingConflict, msg)
		return
	}
	e := w.eval
	granted := metav1.NewTime(e.GrantedAt)
	expires := metav1.NewTime(e.ExpiresAt)
	ar.Status.GrantedAt = &granted
	ar.Status.ExpiresAt = &expires
	ar.Status.RoleBinding = BindingName(ar)
	ar.Status.Extensions = e.Extensions
	if g := w.grantee; g.Checked && g.Exists && ar.Status.ServiceAccountUID == "" {
		ar.Status.ServiceAccountUID = g.UID
	}
	msg := fmt.Sprintf("%s until %s", bindingDescription(ar), e.ExpiresAt.UTC().Format(time.RFC3339))
	if n := len(e.Extensions); n > 0 {
		msg += fmt.Sprintf(" (extended %d time%s)", n, map[bool]string{true: "", false: "s"}[n == 1])
	}
	setCondition(ar, accessv1alpha1.ConditionGranted, metav1.ConditionTrue, accessv1alpha1.ReasonGranted, msg)
	setCondition(ar, accessv1alpha1.ConditionExpired, metav1.ConditionFalse, accessv1alpha1.ReasonNotExpired,
		"access expires at "+e.ExpiresAt.UTC().Format(time.RFC3339))
	setCondition(ar, accessv1alpha1.ConditionReady, metav1.ConditionTrue, accessv1alpha1.ReasonGranted, msg)
}

// setRevokedStatus records that access ended now; it never starts again.
func setRevokedStatus(ar *accessv1alpha1.AccessRequest, w *world) {
	e := w.eval
	now := metav1.NewTime(w.now)
	ar.Status.RevokedAt = &now
	if !e.ExpiresAt.IsZero() && e.Outcome == policy.OutcomeExpired {
		expires := metav1.NewTime(e.ExpiresAt)
		ar.Status.ExpiresAt = &expires
	}
	var reason, msg string
	switch e.Outcome {
	case policy.OutcomeExpired:
		reason, msg = accessv1alpha1.ReasonExpired, "access expired at "+e.ExpiresAt.UTC().Format(time.RFC3339)
	case policy.OutcomeRevoked:
		last := e.Tally.Records[len(e.Tally.Records)-1]
		reason, msg = accessv1alpha1.ReasonRevoked, strings.TrimSuffix("revoked by "+last.Reviewer+": "+last.Comment, ": ")
	case policy.OutcomeEnded:
		reason, msg = e.EndReason, e.EndMessage
	case policy.OutcomePolicyChanged:
		if t := w.target; t != nil && ar.Spec.Extends != "" && policy.Closed(t) {
			// The grant this extension prolonged ended: so did the extension.
			reason, msg = extensionEnd(ar, w)
			break
		}
		fallthrough
	default:
		reason = accessv1alpha1.ReasonPolicyChanged
		msg = "the policy no longer allows this grant"
		if len(e.Violations) > 0 {
			msg += ": " + e.Violations[0].Error()
		} else if e.Tally.State != policy.StateApproved {
			msg += ": it is no longer approved (" + string(e.Tally.State) + ")"
		}
	}
	if ar.Status.GrantedAt == nil && e.Outcome != policy.OutcomeRevoked {
		msg += " (it had not been granted yet)"
	}
	setAccessEnded(ar, reason, msg)
}

// setAccessEnded records the end of access: expired, or revoked for any
// other reason.
func setAccessEnded(ar *accessv1alpha1.AccessRequest, reason, msg string) {
	setCondition(ar, accessv1alpha1.ConditionGranted, metav1.ConditionFalse, reason, msg)
	if reason == accessv1alpha1.ReasonExpired {
		setCondition(ar, accessv1alpha1.ConditionExpired, metav1.ConditionTrue, accessv1alpha1.ReasonExpired, msg)
		setCondition(ar, accessv1alpha1.ConditionReady, metav1.ConditionTrue, accessv1alpha1.ReasonExpired, msg)
		return
	}
	setCondition(ar, accessv1alpha1.ConditionExpired, metav1.ConditionFalse, accessv1alpha1.ReasonNotExpired, "access ended before its expiry")
	setCondition(ar, accessv1alpha1.ConditionReady, metav1.ConditionTrue, accessv1alpha1.ReasonRevoked, msg)
}

// setWaitingStatus records an approved request that is not granted until
// what it needs exists (the grantee ServiceAccount).
func setWaitingStatus(ar *accessv1alpha1.AccessRequest, e policy.Result) {
	ar.Status.GrantedAt, ar.Status.ExpiresAt, ar.Status.RoleBinding = nil, nil, ""
	setCondition(ar, accessv1alpha1.ConditionGranted, metav1.ConditionFalse, e.WaitReason, e.WaitMessage)
	setCondition(ar, accessv1alpha1.ConditionExpired, metav1.ConditionFalse, accessv1alpha1.ReasonNotExpired, "access has not been granted")
	setCondition(ar, accessv1alpha1.ConditionReady, metav1.ConditionFalse, e.WaitReason, e.WaitMessage)
}

// setNotGrantedStatus records a request that holds no access: invalid,
// pending, scheduled, denied or timed out.
func setNotGrantedStatus(ar *accessv1alpha1.AccessRequest, e policy.Result) {
	var ready, msg string
	switch e.Outcome {
	case policy.OutcomeInvalid:
		ready = accessv1alpha1.ReasonInvalid
		msg = findCondition(ar.Status.Conditions, accessv1alpha1.ConditionValidated).Message
	case policy.OutcomeDenied:
		ready, msg = accessv1alpha1.ReasonDenied, findCondition(ar.Status.Conditions, accessv1alpha1.ConditionApproved).Message
	case policy.OutcomeTimedOut:
		ready, msg = accessv1alpha1.ReasonTimedOut, findCondition(ar.Status.Conditions, accessv1alpha1.ConditionApproved).Message
	case policy.OutcomeScheduled:
		ready = accessv1alpha1.ReasonScheduled
		msg = fmt.Sprintf("approved; %s is granted to ServiceAccount %s/%s from %s until %s", ar.Spec.RoleRef,
			policy.ServiceAccountNamespace(ar), ar.Spec.ServiceAccount.Name,
			e.StartsAt.UTC().Format(time.RFC3339), e.ExpiresAt.UTC().Format(time.RFC3339))
	default:
		ready, msg = accessv1alpha1.ReasonPendingApproval, findCondition(ar.Status.Conditions, accessv1alpha1.ConditionApproved).Message
	}
	ar.Status.GrantedAt, ar.Status.ExpiresAt, ar.Status.RoleBinding = nil, nil, ""
	setCondition(ar, accessv1alpha1.ConditionGranted, metav1.ConditionFalse, accessv1alpha1.ReasonNotGranted, "access has not been granted")
	setCondition(ar, accessv1alpha1.ConditionExpired, metav1.ConditionFalse, accessv1alpha1.ReasonNotExpired, "access has not been granted")
	setCondition(ar, accessv1alpha1.ConditionReady, metav1.ConditionFalse, ready, msg)
}

// setEndedConditions keeps an ended request's conditions as they were,
// stamped with the current generation.
func setEndedConditions(ar *accessv1alpha1.AccessRequest) {
	for i := range ar.Status.Conditions {
		ar.Status.Conditions[i].ObservedGeneration = ar.Generation
	}
}

// setStalled mirrors the final failures into Stalled, for kstatus and Flux.
func setStalled(ar *accessv1alpha1.AccessRequest) {
	ready := findCondition(ar.Status.Conditions, accessv1alpha1.ConditionReady)
	if ready == nil {
		return
	}
	switch ready.Reason {
	case accessv1alpha1.ReasonDenied, accessv1alpha1.ReasonTimedOut, accessv1alpha1.ReasonInvalid, accessv1alpha1.ReasonBindingConflict:
		setCondition(ar, accessv1alpha1.ConditionStalled, metav1.ConditionTrue, ready.Reason, ready.Message)
	default:
		meta.RemoveStatusCondition(&ar.Status.Conditions, accessv1alpha1.ConditionStalled)
	}
}

func setCountedCondition(d *accessv1alpha1.AccessDecision, v policy.Verdict) {
	status := metav1.ConditionFalse
	if v.Counted {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{
		Type: accessv1alpha1.ConditionCounted, Status: status, Reason: v.Reason, Message: v.Message,
		ObservedGeneration: d.Generation,
	})
	d.Status.ObservedGeneration = d.Generation
}

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
