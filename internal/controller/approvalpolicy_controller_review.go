package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/audit"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/internal/snapshot"
)

// policyForAttestation enqueues the policy an attestation names.
func policyForAttestation(_ context.Context, obj client.Object) []reconcile.Request {
	names := snapshot.AttestedPolicy(obj)
	if len(names) == 0 {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: names[0]}}}
}

// review records the policy's recertification in its status: the last
// attestation that counted, when the next review is due, and the
// ReviewDue and ReviewOverdue conditions. It tells each attestation whether
// it counted and returns when the review's phase next changes by time alone
// (zero if never), and the attestation that counts last (nil if none).
func (r *ApprovalPolicyReconciler) review(ctx context.Context, p *accessv1alpha1.ApprovalPolicy) (
	time.Duration, *accessv1alpha1.AccessDecision, error,
) {
	if p.Spec.Review == nil {
		p.Status.LastReviewed, p.Status.LastReviewedBy, p.Status.ReviewDueAt = nil, "", nil
		meta.RemoveStatusCondition(&p.Status.Conditions, accessv1alpha1.ConditionReviewDue)
		meta.RemoveStatusCondition(&p.Status.Conditions, accessv1alpha1.ConditionReviewOverdue)
		return 0, nil, nil
	}
	now := r.now()
	judged, err := r.attestations(ctx, p)
	if err != nil {
		return 0, nil, err
	}
	var last time.Time
	p.Status.LastReviewed, p.Status.LastReviewedBy = nil, ""
	if d := judged.Last; d != nil {
		last = d.CreationTimestamp.Time
		p.Status.LastReviewed = &d.CreationTimestamp
		p.Status.LastReviewedBy = d.Spec.Reviewer.Username
	}
	s := policy.Review(p, last, now)
	p.Status.ReviewDueAt = &metav1.Time{Time: s.DueAt}
	var long []policy.LongGrant
	if p.Spec.Review.IncludeGrantsLongerThan != nil && s.Phase != policy.ReviewCurrent {
		var requests accessv1alpha1.AccessRequestList
		if err := r.List(ctx, &requests); err != nil {
			return 0, nil, fmt.Errorf("listing AccessRequests: %w", err)
		}
		long = policy.LongGrants(p, requests.Items, now)
	}
	due, overdue, reason, msg := policy.ReviewCondition(p, s, long)
	msg = conditionMessage(msg)
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionReviewDue,
		Status: conditionStatus(due), Reason: reason, Message: msg, ObservedGeneration: p.Generation})
	overdueReason := accessv1alpha1.ReasonReviewNotDue
	if due {
		overdueReason = accessv1alpha1.ReasonReviewDue
	}
	if overdue {
		overdueReason = accessv1alpha1.ReasonReviewOverdue
	}
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionReviewOverdue,
		Status: conditionStatus(overdue), Reason: overdueReason, Message: msg, ObservedGeneration: p.Generation})
	next := time.Duration(0)
	if !s.NextChange.IsZero() {
		next = policy.Until(now, s.NextChange)
	}
	if p.Spec.Review.IncludeGrantsLongerThan != nil && s.Phase != policy.ReviewCurrent {
		// Grants start and end without touching the policy: refresh the
		// list of long grants while the review is open.
		next = min(cmp.Or(next, longGrantsRefresh), longGrantsRefresh)
	}
	return next, judged.Last, nil
}

// longGrantsRefresh is how often an open review's list of long grants is
// brought up to date.
const longGrantsRefresh = 10 * time.Minute

// attestations judges the Attest decisions naming the policy and writes
// each one's Counted condition.
func (r *ApprovalPolicyReconciler) attestations(ctx context.Context, p *accessv1alpha1.ApprovalPolicy) (policy.Attestations, error) {
	var decisions accessv1alpha1.AccessDecisionList
	if err := r.List(ctx, &decisions, client.MatchingFields{snapshot.DecisionPolicyIndex: p.Name}); err != nil {
		return policy.Attestations{}, fmt.Errorf("listing attestations: %w", err)
	}
	labels := map[string]map[string]string{}
	if len(decisions.Items) > 0 {
		var nsList corev1.NamespaceList
		if err := r.List(ctx, &nsList); err != nil {
			return policy.Attestations{}, fmt.Errorf("listing namespaces: %w", err)
		}
		for _, ns := range nsList.Items {
			labels[ns.Name] = ns.Labels
		}
	}
	judged := policy.JudgeAttestations(p, decisions.Items, func(ns string) bool {
		l, ok := labels[ns]
		return ok && policy.Governs(p, l)
	})
	var errs []error
	for i := range decisions.Items {
		d := &decisions.Items[i]
		if v, ok := judged.Verdicts[d.Namespace+"/"+d.Name]; ok {
			errs = append(errs, r.writeCounted(ctx, d, v))
		}
	}
	return judged, errors.Join(errs...)
}

// writeCounted patches an attestation's Counted condition when it changed.
func (r *ApprovalPolicyReconciler) writeCounted(ctx context.Context, d *accessv1alpha1.AccessDecision, v policy.Verdict) error {
	before := d.DeepCopy()
	setCountedCondition(d, v)
	if statusEqual(before.Status, d.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, d, client.MergeFrom(before)); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}

// reviewEvents records an attestation that renewed the review (Attested,
// as an event and an audit line) and a review that became overdue
// (ReviewOverdue, Warning). attested is the attestation that counts last.
func (r *ApprovalPolicyReconciler) reviewEvents(ctx context.Context, before, after *accessv1alpha1.ApprovalPolicy,
	attested *accessv1alpha1.AccessDecision) {
	if after.Spec.Review == nil {
		return
	}
	last, prev := after.Status.LastReviewed, before.Status.LastReviewed
	if last != nil && (prev == nil || last.After(prev.Time)) {
		msg := fmt.Sprintf("%s attested the policy; the next review is due at %s", after.Status.LastReviewedBy,
			after.Status.ReviewDueAt.UTC().Format(time.RFC3339))
		if r.Recorder != nil {
			r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, accessv1alpha1.ReasonAttested, "Attest", "%s", msg)
		}
		if r.Audit != nil && attested != nil {
			r.Audit.Write(ctx, attestationRecord(after, attested, msg))
		}
	}
	if r.Recorder == nil {
		return
	}
	was := meta.IsStatusConditionTrue(before.Status.Conditions, accessv1alpha1.ConditionReviewOverdue)
	c := meta.FindStatusCondition(after.Status.Conditions, accessv1alpha1.ConditionReviewOverdue)
	if !was && c != nil && c.Status == metav1.ConditionTrue {
		r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, accessv1alpha1.ReasonReviewOverdue, "Review", "%s", c.Message)
	}
}

// now reads the reconciler's clock; a reconciler built without one (not
// through SetupWithManager) uses the real clock.
func (r *ApprovalPolicyReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

func conditionStatus(b bool) metav1.ConditionStatus {
	if b {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}

// attestationRecord is the audit line of an attestation that recertified p.
func attestationRecord(p *accessv1alpha1.ApprovalPolicy, d *accessv1alpha1.AccessDecision, msg string) audit.Record {
	return audit.Record{
		Event: accessv1alpha1.ReasonAttested, Attestation: d.Name, Namespace: d.Namespace, UID: string(d.UID), Policy: p.Name,
		Reviewers: []audit.Reviewer{{Username: d.Spec.Reviewer.Username, Decision: string(d.Spec.Decision),
			Time: d.CreationTimestamp.UTC()}},
		Reason: accessv1alpha1.ReasonAttested, Message: msg,
	}
}
