package policy

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// Overlap is a role that two policies both offer in namespaces they both
// govern: a request for it there matches both, so it must name one of them
// in spec.policy, and its requester may pick the weaker one.
type Overlap struct {
	RoleRef accessv1alpha1.RoleRef
	// Namespaces are the existing namespaces both policies govern, sorted.
	// Empty when the two namespaceSelectors are identical but select no
	// namespace yet: they will overlap in every namespace they come to select.
	Namespaces []string
	// AWeaker and BWeaker say how the first and the second policy's
	// entitlement is weaker than the other's; both may be empty.
	AWeaker []string
	BWeaker []string
}

// Overlaps lists, in catalog order of a, the roles a and b both offer in a
// namespace both govern. namespaces are the cluster's namespaces; two
// policies with identical namespaceSelectors overlap even where no
// namespace matches yet. A policy overlaps nothing with itself, and a
// policy being deleted governs nothing.
func Overlaps(a, b *accessv1alpha1.ApprovalPolicy, namespaces []corev1.Namespace) []Overlap {
	if a.Name == b.Name || a.DeletionTimestamp != nil || b.DeletionTimestamp != nil {
		return nil
	}
	var shared []string
	for _, ns := range namespaces {
		if Governs(a, ns.Labels) && Governs(b, ns.Labels) {
			shared = append(shared, ns.Name)
		}
	}
	slices.Sort(shared)
	sameSelector := a.Spec.NamespaceSelector != nil && equality.Semantic.DeepEqual(a.Spec.NamespaceSelector, b.Spec.NamespaceSelector)
	if len(shared) == 0 && !sameSelector {
		return nil
	}
	var out []Overlap
	for i := range a.Spec.Entitlements {
		ea := &a.Spec.Entitlements[i]
		eb := FindEntitlement(b, ea.RoleRef)
		if eb == nil {
			continue
		}
		out = append(out, Overlap{RoleRef: ea.RoleRef, Namespaces: shared,
			AWeaker: Weaker(b, eb, a, ea), BWeaker: Weaker(a, ea, b, eb)})
	}
	return out
}

// Weaker says, one phrase per rule, how policy q's entitlement eq lets
// through what policy p's entitlement ep would hold back: granted without
// approval, a longer maxDuration, fewer approvals at the entitlement's
// sensitivity, a lower sensitivity floor, tags or a justification not
// required, break-glass offered, more extensions. Empty when q is nowhere
// weaker.
func Weaker(p *accessv1alpha1.ApprovalPolicy, ep *accessv1alpha1.Entitlement,
	q *accessv1alpha1.ApprovalPolicy, eq *accessv1alpha1.Entitlement,
) []string {
	var out []string
	if eq.AutoApprove && !ep.AutoApprove {
		out = append(out, fmt.Sprintf("grants without approval (autoApprove) where %q requires approval", p.Name))
	}
	if eq.MaxDuration.Duration > ep.MaxDuration.Duration {
		out = append(out, fmt.Sprintf("allows maxDuration %s where %q allows %s",
			eq.MaxDuration.Duration, p.Name, ep.MaxDuration.Duration))
	}
	if !eq.AutoApprove && !ep.AutoApprove {
		np, okp := approvalsNeeded(p, ep)
		nq, okq := approvalsNeeded(q, eq)
		if okp && okq && nq < np {
			out = append(out, fmt.Sprintf("needs %d approval(s) where %q needs %d", nq, p.Name, np))
		}
	}
	if floor(eq).Rank() < floor(ep).Rank() {
		out = append(out, fmt.Sprintf("has sensitivity floor %s where %q has %s", floor(eq), p.Name, floor(ep)))
	}
	var missing []string
	for _, t := range p.Spec.RequiredTags {
		if !slices.ContainsFunc(q.Spec.RequiredTags, func(u accessv1alpha1.RequiredTag) bool { return u.Key == t.Key }) {
			missing = append(missing, t.Key)
		}
	}
	if len(missing) > 0 {
		out = append(out, fmt.Sprintf("does not require tag(s) %s that %q requires", strings.Join(missing, ", "), p.Name))
	}
	if JustificationRequired(p) && !JustificationRequired(q) {
		out = append(out, fmt.Sprintf("does not require a justification where %q does", p.Name))
	}
	if eq.BreakGlass != nil && ep.BreakGlass == nil {
		out = append(out, fmt.Sprintf("offers break-glass access where %q does not", p.Name))
	}
	if q.Spec.MaxExtensions > p.Spec.MaxExtensions {
		out = append(out, fmt.Sprintf("allows %d extension(s) where %q allows %d", q.Spec.MaxExtensions, p.Name, p.Spec.MaxExtensions))
	}
	return out
}

// approvalsNeeded is how many approvals the first tier that may decide the
// entitlement's own sensitivity requires; false when no tier may.
func approvalsNeeded(p *accessv1alpha1.ApprovalPolicy, e *accessv1alpha1.Entitlement) (int32, bool) {
	i, ok := DecidingTier(p, floor(e))
	if !ok {
		return 0, false
	}
	return max(p.Spec.Approvers[i].RequiredApprovals, 1), true
}

func floor(e *accessv1alpha1.Entitlement) accessv1alpha1.Sensitivity {
	if e.Sensitivity.Rank() < 0 {
		return accessv1alpha1.SensitivityLow
	}
	return e.Sensitivity
}

// String describes the overlap from a's side, for an admission warning or
// a lint finding about policy a.
func (o Overlap) String(a, b string) string {
	where := "in every namespace both select (their namespaceSelectors are identical)"
	if len(o.Namespaces) > 0 {
		where = "in namespace(s) " + strings.Join(o.Namespaces, ", ")
	}
	s := fmt.Sprintf("ApprovalPolicy %q also offers %s %s; a request for it there matches both policies and must name one in spec.policy",
		b, o.RoleRef, where)
	if len(o.BWeaker) > 0 {
		s += fmt.Sprintf("; %q is weaker: it %s", b, strings.Join(o.BWeaker, ", "))
	}
	if len(o.AWeaker) > 0 {
		s += fmt.Sprintf("; %q is weaker: it %s", a, strings.Join(o.AWeaker, ", "))
	}
	return s
}
