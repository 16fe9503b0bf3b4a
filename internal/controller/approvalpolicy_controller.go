package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/audit"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/internal/notify"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/internal/snapshot"
)

// Policy readiness reasons.
const (
	ReasonInvalidSelector = "InvalidNamespaceSelector"
	ReasonNoNamespaces    = "NoMatchingNamespaces"
)

// ApprovalPolicyReconciler reports whether each ApprovalPolicy is usable:
// its selector parses, every role in its catalog exists, and no role's
// rules let a holder outlive or widen a temporary grant unless the
// entitlement accepts that risk. It also reports whether the policy's
// notification targets accept their notifications.
type ApprovalPolicyReconciler struct {
	client.Client
	// Notifier reports the health of notification targets; nil reports none.
	Notifier *notify.Dispatcher
	// Metrics starts the policy's break-glass and notification-failure
	// series at zero, so that rate() sees their first increase.
	Metrics *metrics.Recorder
	// Clock times reviews (spec.review); nil means the real clock.
	Clock clock.PassiveClock
	// Recorder records the review's events (Attested, ReviewOverdue); nil records none.
	Recorder events.EventRecorder
	// Audit receives one line per attestation that recertified the policy;
	// nil writes none.
	Audit audit.Sink
}

// +kubebuilder:rbac:groups=access.rolegate.dev,resources=approvalpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=access.rolegate.dev,resources=approvalpolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=access.rolegate.dev,resources=accessdecisions,verbs=get;list;watch
// +kubebuilder:rbac:groups=access.rolegate.dev,resources=accessdecisions/status,verbs=get;update;patch

// Reconcile sets the policy's Ready, Overlapping and NotificationsDelivered
// conditions and its review status (ReviewDue, ReviewOverdue), and comes
// back when the review's phase changes.
func (r *ApprovalPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &accessv1alpha1.ApprovalPolicy{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := p.DeepCopy()
	status, reason, msg, err := r.readiness(ctx, p)
	if err != nil {
		return ctrl.Result{}, err
	}
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{
		Type: accessv1alpha1.ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: p.Generation,
	})
	overlap, err := r.overlapping(ctx, p)
	if err != nil {
		return ctrl.Result{}, err
	}
	meta.SetStatusCondition(&p.Status.Conditions, overlap)
	if c, ok := r.Notifier.Condition(p); ok {
		meta.SetStatusCondition(&p.Status.Conditions, c)
	} else {
		meta.RemoveStatusCondition(&p.Status.Conditions, accessv1alpha1.ConditionNotificationsDelivered)
	}
	next, attested, err := r.review(ctx, p)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.Metrics.InitPolicy(p)
	p.Status.ObservedGeneration = p.Generation
	if statusEqual(before.Status, p.Status) {
		return ctrl.Result{RequeueAfter: next}, nil
	}
	if err := r.Status().Patch(ctx, p, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return retryConflict(ctx, client.IgnoreNotFound(fmt.Errorf("updating status: %w", err)))
	}
	// After the write, which the optimistic lock makes the only one from
	// this state: a reconcile that read a stale policy records nothing.
	r.reviewEvents(ctx, before, p, attested)
	logf.FromContext(ctx).V(1).Info("Updated ApprovalPolicy readiness", "ready", status, "reason", reason)
	return ctrl.Result{RequeueAfter: next}, nil
}

func (r *ApprovalPolicyReconciler) readiness(
	ctx context.Context, p *accessv1alpha1.ApprovalPolicy,
) (metav1.ConditionStatus, string, string, error) {
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.NamespaceSelector)
	if err != nil {
		return metav1.ConditionFalse, ReasonInvalidSelector,
			fmt.Sprintf("spec.namespaceSelector: %v; fix the selector", err), nil
	}
	if vs := policy.ValidateRequiredTags(p); len(vs) > 0 {
		// Admitted while the policy webhook was down: requests under it are refused.
		return metav1.ConditionFalse, policy.ReasonInvalidRequiredTag, vs[0].Error(), nil
	}
	var nsList corev1.NamespaceList
	if err := r.List(ctx, &nsList, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return "", "", "", fmt.Errorf("listing namespaces: %w", err)
	}
	namespaces := make([]string, 0, len(nsList.Items))
	for _, ns := range nsList.Items {
		namespaces = append(namespaces, ns.Name)
	}
	slices.Sort(namespaces)

	var missing, flagged, accepted []string
	for i, e := range p.Spec.Entitlements {
		found, risky, err := r.analyse(ctx, e.RoleRef, namespaces)
		if err != nil {
			return "", "", "", err
		}
		if !found {
			where := "in the cluster"
			if e.RoleRef.Kind == accessv1alpha1.RoleKindRole {
				where = "in any governed namespace"
			}
			missing = append(missing, fmt.Sprintf("%s does not exist %s", e.RoleRef, where))
			continue
		}
		if len(risky) == 0 {
			continue
		}
		if e.AllowPersistenceRisk {
			where := make([]string, 0, len(risky))
			for _, rr := range risky {
				where = append(where, rr.namespaces...)
			}
			slices.Sort(where)
			accepted = append(accepted, fmt.Sprintf("accepts persistence risk of %s: %s",
				roleIn(e.RoleRef, where), e.PersistenceRiskReason))
			continue
		}
		for _, rr := range risky {
			flagged = append(flagged, fmt.Sprintf("spec.entitlements[%d]: %s", i,
				policy.DescribeRisks(roleIn(e.RoleRef, rr.namespaces), rr.risks)))
		}
	}
	if len(missing) > 0 {
		return metav1.ConditionFalse, accessv1alpha1.ReasonRoleNotFound,
			"spec.entitlements: " + strings.Join(missing, "; ") + "; create the roles or remove them from the catalog", nil
	}
	if len(flagged) > 0 {
		them := "it"
		if len(flagged) > 1 {
			them = "them"
		}
		return metav1.ConditionFalse, accessv1alpha1.ReasonEntitlementAllowsPersistence, conditionMessage(
			strings.Join(flagged, "; ") + "; a holder could outlive or widen a temporary grant, so requests for " + them +
				" are refused; " + policy.PersistenceRiskFix), nil
	}
	acceptedNote := ""
	if len(accepted) > 0 {
		acceptedNote = "; " + strings.Join(accepted, "; ")
	}
	if len(namespaces) == 0 {
		return metav1.ConditionTrue, ReasonNoNamespaces, conditionMessage(
			"the policy is valid but its namespaceSelector matches no namespace yet" + acceptedNote), nil
	}
	return metav1.ConditionTrue, accessv1alpha1.ReasonPolicyReady, conditionMessage(
		fmt.Sprintf("%s available in %s (%s); %s%s", plural(len(p.Spec.Entitlements), "entitlement"),
			plural(len(namespaces), "namespace"), abbreviate(namespaces, 5), tierSummary(p), acceptedNote)), nil
}

// overlapping is the policy's Overlapping condition: True, naming each
// other policy that allows one of its roles in one of its namespaces and
// which of the two asks less, False when there is none. A request for such
// a role must name its policy (spec.policy) unless it was already routed
// to one; grants and routed requests keep their policy.
func (r *ApprovalPolicyReconciler) overlapping(ctx context.Context, p *accessv1alpha1.ApprovalPolicy) (metav1.Condition, error) {
	var policies accessv1alpha1.ApprovalPolicyList
	if err := r.List(ctx, &policies); err != nil {
		return metav1.Condition{}, fmt.Errorf("listing ApprovalPolicies: %w", err)
	}
	var nsList corev1.NamespaceList
	if err := r.List(ctx, &nsList); err != nil {
		return metav1.Condition{}, fmt.Errorf("listing namespaces: %w", err)
	}
	slices.SortFunc(policies.Items, func(a, b accessv1alpha1.ApprovalPolicy) int { return strings.Compare(a.Name, b.Name) })
	var found []string
	for i := range policies.Items {
		other := &policies.Items[i]
		for _, o := range policy.Overlaps(p, other, nsList.Items) {
			found = append(found, o.String(p.Name, other.Name))
		}
	}
	c := metav1.Condition{Type: accessv1alpha1.ConditionOverlapping, ObservedGeneration: p.Generation}
	if len(found) == 0 {
		c.Status, c.Reason = metav1.ConditionFalse, accessv1alpha1.ReasonNoOverlap
		c.Message = "no other ApprovalPolicy allows one of this policy's roles in a namespace it governs"
		return c, nil
	}
	c.Status, c.Reason = metav1.ConditionTrue, accessv1alpha1.ReasonOverlapping
	c.Message = conditionMessage(strings.Join(found, "; ") + "; granted and pending requests keep the policy they were routed to; " +
		"narrow a namespaceSelector or a catalog to remove the overlap")
	return c, nil
}

// maxConditionMessage keeps a message within metav1.Condition's limit of
// 32768 bytes, with room to say it was cut.
const maxConditionMessage = 32000

func conditionMessage(msg string) string {
	if len(msg) <= maxConditionMessage {
		return msg
	}
	return strings.ToValidUTF8(msg[:maxConditionMessage], "") + " ... (truncated)"
}

// roleIn names a role, and for a Role the namespaces it is read in.
func roleIn(ref accessv1alpha1.RoleRef, namespaces []string) string {
	switch {
	case ref.Kind == accessv1alpha1.RoleKindClusterRole || len(namespaces) == 0:
		return ref.String()
	case len(namespaces) == 1:
		return ref.String() + " in namespace " + namespaces[0]
	default:
		return ref.String() + " in namespaces " + abbreviate(namespaces, 5)
	}
}

// riskyRole is the persistence risks of a role, with the namespaces of the
// Roles that have exactly these risks (none for a ClusterRole).
type riskyRole struct {
	namespaces []string
	risks      []policy.Risk
}

// analyse reports whether a ClusterRole exists, or a Role exists in at
// least one of the namespaces, and the persistence risks of its rules: a
// ClusterRole's once, a Role's in each namespace where it exists, Roles with
// the same risks grouped together.
func (r *ApprovalPolicyReconciler) analyse(
	ctx context.Context, ref accessv1alpha1.RoleRef, namespaces []string,
) (bool, []riskyRole, error) {
	if ref.Kind == accessv1alpha1.RoleKindClusterRole {
		rules, found, err := snapshot.RoleRules(ctx, r, ref, "")
		if err != nil || !found {
			return found, nil, err
		}
		if risks := policy.PersistenceRisks(rules); len(risks) > 0 {
			return true, []riskyRole{{risks: risks}}, nil
		}
		return true, nil, nil
	}
	found := false
	var out []riskyRole
	byRisks := map[string]int{}
	for _, ns := range namespaces {
		rules, ok, err := snapshot.RoleRules(ctx, r, ref, ns)
		if err != nil {
			return false, nil, err
		}
		if !ok {
			continue
		}
		found = true
		risks := policy.PersistenceRisks(rules)
		if len(risks) == 0 {
			continue
		}
		key := policy.DescribeRisks("", risks)
		if i, seen := byRisks[key]; seen {
			out[i].namespaces = append(out[i].namespaces, ns)
			continue
		}
		byRisks[key] = len(out)
		out = append(out, riskyRole{namespaces: []string{ns}, risks: risks})
	}
	return found, out, nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func tierSummary(p *accessv1alpha1.ApprovalPolicy) string {
	if len(p.Spec.Approvers) == 0 {
		return "every entitlement is auto-approved"
	}
	names := make([]string, 0, len(p.Spec.Approvers))
	for _, t := range p.Spec.Approvers {
		names = append(names, t.Name)
	}
	return "approver tiers: " + strings.Join(names, " > ")
}

func abbreviate(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

// SetupWithManager registers the controller; policy, role and namespace
// changes re-evaluate every policy, and an attestation the policy it names. Roles and ClusterRoles are watched in full: a
// change of their rules can make an entitlement risky.
func (r *ApprovalPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(r.allPolicies)
	b := ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.ApprovalPolicy{}).
		Named("approvalpolicy").
		// Another policy's change can start or end an overlap with this one.
		Watches(&accessv1alpha1.ApprovalPolicy{}, all).
		Watches(&corev1.Namespace{}, all).
		Watches(&rbacv1.Role{}, all).
		Watches(&rbacv1.ClusterRole{}, all).
		// An attestation renews the review of the policy it names.
		Watches(&accessv1alpha1.AccessDecision{}, handler.EnqueueRequestsFromMapFunc(policyForAttestation))
	if r.Notifier != nil {
		// A target's delivery health changed: refresh NotificationsDelivered.
		b = b.WatchesRawSource(source.Channel(r.Notifier.Changes(), &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}

func (r *ApprovalPolicyReconciler) allPolicies(ctx context.Context, _ client.Object) []reconcile.Request {
	var list accessv1alpha1.ApprovalPolicyList
	if err := r.List(ctx, &list); err != nil {
		logf.FromContext(ctx).Error(err, "Failed to list ApprovalPolicies to re-evaluate")
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
	}
	return out
}
