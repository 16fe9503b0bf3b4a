package policy

import (
	"fmt"
	"slices"
	"strings"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// Overlap is where two ApprovalPolicies both allow the same role: a request
// for one of Roles in one of Namespaces is governed by either policy, and
// needs spec.policy unless it was already routed to one of them.
type Overlap struct {
	// Roles are the roles both catalogs hold, sorted.
	Roles []accessv1alpha1.RoleRef
	// Namespaces are the namespaces both policies govern, sorted.
	Namespaces []string
}

// Overlaps reports whether policies a and b overlap: at least one of the
// given namespaces (name to labels) is governed by both, and both catalogs
// hold at least one same role. A policy overlaps with nothing when it is
// being deleted or its selector does not parse (it governs nothing), and
// never with itself.
func Overlaps(a, b *accessv1alpha1.ApprovalPolicy, namespaces map[string]map[string]string) (Overlap, bool) {
	var o Overlap
	if a.Name == b.Name {
		return o, false
	}
	for _, e := range a.Spec.Entitlements {
		if FindEntitlement(b, e.RoleRef) != nil && !slices.Contains(o.Roles, e.RoleRef) {
			o.Roles = append(o.Roles, e.RoleRef)
		}
	}
	if len(o.Roles) == 0 {
		return Overlap{}, false
	}
	for name, labels := range namespaces {
		if Governs(a, labels) && Governs(b, labels) {
			o.Namespaces = append(o.Namespaces, name)
		}
	}
	if len(o.Namespaces) == 0 {
		return Overlap{}, false
	}
	slices.Sort(o.Namespaces)
	slices.SortFunc(o.Roles, func(x, y accessv1alpha1.RoleRef) int { return strings.Compare(x.String(), y.String()) })
	return o, true
}

// Weaker lists the ways policy a asks less than policy b before granting
// role ref, in a fixed order; it is empty when a is at least as strict as b
// on every count, or when either catalog lacks the role. Counted: automatic
// approval, break-glass, a longer maxDuration, a lower sensitivity floor,
// fewer distinct approvals in total, no justification required, fewer
// required tags, anyone may request, accepted persistence risk, more
// extensions.
func Weaker(a, b *accessv1alpha1.ApprovalPolicy, ref accessv1alpha1.RoleRef) []string {
	ea, eb := FindEntitlement(a, ref), FindEntitlement(b, ref)
	if ea == nil || eb == nil {
		return nil
	}
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if ea.AutoApprove && !eb.AutoApprove {
		add("%s is auto-approved", ref)
	}
	if ea.BreakGlass != nil && eb.BreakGlass == nil {
		add("%s allows break-glass access", ref)
	}
	if ea.MaxDuration.Duration > eb.MaxDuration.Duration {
		add("maxDuration %s is longer than %s", ea.MaxDuration.Duration, eb.MaxDuration.Duration)
	}
	if floor(ea).Rank() < floor(eb).Rank() {
		add("sensitivity floor %s is lower than %s", floor(ea), floor(eb))
	}
	if na, nb := totalApprovals(a, ea), totalApprovals(b, eb); na < nb {
		add("%d approvals in all instead of %d", na, nb)
	}
	if !JustificationRequired(a) && JustificationRequired(b) {
		add("no justification is required")
	}
	if len(a.Spec.RequiredTags) < len(b.Spec.RequiredTags) {
		add("%d required tags instead of %d", len(a.Spec.RequiredTags), len(b.Spec.RequiredTags))
	}
	if len(a.Spec.Requesters) == 0 && len(b.Spec.Requesters) > 0 {
		add("anyone may request")
	}
	if ea.AllowPersistenceRisk && !eb.AllowPersistenceRisk {
		add("it accepts the role's persistence risk")
	}
	if a.Spec.MaxExtensions > b.Spec.MaxExtensions {
		add("%d extensions allowed instead of %d", a.Spec.MaxExtensions, b.Spec.MaxExtensions)
	}
	return out
}

// floor is an entitlement's sensitivity floor (low when unset).
func floor(e *accessv1alpha1.Entitlement) accessv1alpha1.Sensitivity {
	if e.Sensitivity == "" {
		return accessv1alpha1.SensitivityLow
	}
	return e.Sensitivity
}

// totalApprovals is how many approvals a request for the entitlement needs
// from its first deciding tier: none when auto-approved.
func totalApprovals(p *accessv1alpha1.ApprovalPolicy, e *accessv1alpha1.Entitlement) int {
	if e.AutoApprove {
		return 0
	}
	i, ok := DecidingTier(p, floor(e))
	if !ok {
		return 0
	}
	return RequiredApprovals(&p.Spec.Approvers[i])
}
