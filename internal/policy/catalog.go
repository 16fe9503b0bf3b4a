package policy

import (
	"cmp"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// CatalogEntry is one role a user may request in a namespace, with the
// terms the governing policy sets for it.
type CatalogEntry struct {
	// Policy is the ApprovalPolicy that offers the role.
	Policy string `json:"policy"`
	// RoleRef is the role to request (--role).
	RoleRef accessv1alpha1.RoleRef `json:"roleRef"`
	// MaxDuration is the longest an ordinary request may ask for (--for).
	MaxDuration metav1.Duration `json:"maxDuration"`
	// Sensitivity is the entitlement's floor; a sensitivity tag may raise it.
	Sensitivity accessv1alpha1.Sensitivity `json:"sensitivity"`
	// AutoApprove is true when the role is granted without review.
	AutoApprove bool `json:"autoApprove,omitempty"`
	// BreakGlassMaxDuration is set when the role may be had at once, without
	// approval, for at most this long (--break-glass).
	BreakGlassMaxDuration *metav1.Duration `json:"breakGlassMaxDuration,omitempty"`
	// JustificationRequired is true when the policy demands --reason.
	JustificationRequired bool `json:"justificationRequired"`
	// RequiredTags are the tags every request must carry (--tag KEY=VALUE);
	// an empty values list accepts any non-empty value.
	RequiredTags []accessv1alpha1.RequiredTag `json:"requiredTags,omitempty"`
	// Tier is the approver tier that decides a request at the entitlement's
	// sensitivity; empty when the role is auto-approved or no tier may.
	Tier string `json:"tier,omitempty"`
	// Approvers are the subjects of that tier and every later tier that may
	// decide it: who can approve.
	Approvers []accessv1alpha1.Subject `json:"approvers,omitempty"`
	// NeedsPolicy is true when several policies offer the same role here, so
	// a request must name one (--policy), as admission demands.
	NeedsPolicy bool `json:"needsPolicy,omitempty"`
}

// BreakGlass reports whether the entry offers break-glass access.
func (e *CatalogEntry) BreakGlass() bool { return e.BreakGlassMaxDuration != nil }

// Decidable reports whether a request at the entry's sensitivity can be
// decided at all: auto-approved, or some approver tier may decide it.
func (e *CatalogEntry) Decidable() bool { return e.AutoApprove || e.Tier != "" }

// Catalog lists the entitlements the user may request in a namespace with
// these labels: those of every policy that governs the namespace (Governs)
// and whose requesters, when set, include the user. A nil user is one the
// caller could not identify: every governing policy's entries are listed,
// as admission would judge the requester itself. Entries are sorted by role,
// then policy; a role offered by several policies is marked NeedsPolicy,
// since Select refuses such a request without spec.policy.
func Catalog(
	policies []accessv1alpha1.ApprovalPolicy, namespaceLabels map[string]string, user *accessv1alpha1.UserInfo,
) []CatalogEntry {
	var out []CatalogEntry
	offers := map[accessv1alpha1.RoleRef]int{}
	for i := range policies {
		p := &policies[i]
		if !Governs(p, namespaceLabels) {
			continue
		}
		// Every governing policy counts for ambiguity, whether or not this
		// user may use it: Select does not look at requesters.
		for _, e := range p.Spec.Entitlements {
			offers[e.RoleRef]++
		}
		if user != nil && len(p.Spec.Requesters) > 0 && !MatchesAny(p.Spec.Requesters, *user) {
			continue
		}
		for j := range p.Spec.Entitlements {
			out = append(out, catalogEntry(p, &p.Spec.Entitlements[j]))
		}
	}
	for i := range out {
		out[i].NeedsPolicy = offers[out[i].RoleRef] > 1
	}
	slices.SortStableFunc(out, func(a, b CatalogEntry) int {
		return cmp.Or(cmp.Compare(a.RoleRef.String(), b.RoleRef.String()), cmp.Compare(a.Policy, b.Policy))
	})
	return out
}

func catalogEntry(p *accessv1alpha1.ApprovalPolicy, e *accessv1alpha1.Entitlement) CatalogEntry {
	sens := e.Sensitivity
	if sens.Rank() < 0 {
		sens = accessv1alpha1.SensitivityLow
	}
	ce := CatalogEntry{
		Policy:                p.Name,
		RoleRef:               e.RoleRef,
		MaxDuration:           e.MaxDuration,
		Sensitivity:           sens,
		AutoApprove:           e.AutoApprove,
		JustificationRequired: JustificationRequired(p),
		RequiredTags:          p.Spec.RequiredTags,
	}
	if e.BreakGlass != nil {
		ce.BreakGlassMaxDuration = &metav1.Duration{Duration: min(e.BreakGlass.MaxDuration.Duration, e.MaxDuration.Duration)}
	}
	if !e.AutoApprove {
		if i, ok := DecidingTier(p, sens); ok {
			ce.Tier = p.Spec.Approvers[i].Name
			ce.Approvers = ApproversFrom(p, i)
		}
	}
	return ce
}

// ApproversFrom are the subjects of the tier and of every later tier: who
// may decide a request that tier decides. Nil for a negative tier.
func ApproversFrom(p *accessv1alpha1.ApprovalPolicy, tier int) []accessv1alpha1.Subject {
	if tier < 0 {
		return nil
	}
	var subjects []accessv1alpha1.Subject
	for i := tier; i < len(p.Spec.Approvers); i++ {
		subjects = append(subjects, p.Spec.Approvers[i].Subjects...)
	}
	return subjects
}

// NextDecidingTier is the index of the first tier after the given one whose
// authority covers the sensitivity, the tier a request escalates to; false
// when there is none.
func NextDecidingTier(p *accessv1alpha1.ApprovalPolicy, s accessv1alpha1.Sensitivity, after int) (int, bool) {
	return nextTier(p, s, after)
}
