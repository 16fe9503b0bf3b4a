package policy

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// Violation is one reason a request or decision cannot go ahead. Field is
// the JSON path of the offending field; Message says what is wrong and how
// to fix it.
type Violation struct {
	Reason  string
	Field   string
	Message string
}

func (v Violation) Error() string { return v.Field + ": " + v.Message }

// Field paths that violations name.
const (
	FieldPolicy  = "spec.policy"
	FieldRoleRef = "spec.roleRef"
	FieldExtends = "spec.extends"
)

// Governs reports whether the policy's namespaceSelector selects a namespace
// with these labels. A policy being deleted governs nothing, and a selector
// that does not parse selects nothing (default deny).
func Governs(p *accessv1alpha1.ApprovalPolicy, namespaceLabels map[string]string) bool {
	if p.DeletionTimestamp != nil || p.Spec.NamespaceSelector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.NamespaceSelector)
	if err != nil {
		return false
	}
	return sel.Matches(labels.Set(namespaceLabels))
}

// FindEntitlement returns the catalog entry for the role, or nil.
func FindEntitlement(p *accessv1alpha1.ApprovalPolicy, ref accessv1alpha1.RoleRef) *accessv1alpha1.Entitlement {
	for i := range p.Spec.Entitlements {
		if p.Spec.Entitlements[i].RoleRef == ref {
			return &p.Spec.Entitlements[i]
		}
	}
	return nil
}

// Select finds the one policy that governs the request: its namespaceSelector
// matches the request's namespace and its catalog holds the role. With
// spec.policy set, only that policy is considered. Anything else is a
// violation: no policy, or more than one without spec.policy.
func Select(
	policies []accessv1alpha1.ApprovalPolicy, namespaceLabels map[string]string, req *accessv1alpha1.AccessRequest,
) (*accessv1alpha1.ApprovalPolicy, *Violation) {
	return SelectKeeping(policies, namespaceLabels, req, "")
}

// SelectKeeping is Select for a request already routed to the policy named
// current (its status.policy): while that policy still governs the
// namespace and holds the role, it keeps governing the request, even when
// another policy that allows the same role appeared since. A grant or a
// pending request is thus never cut or invalidated by an overlapping policy
// added later; it ends only when its own policy stops allowing it. The name
// only chooses among policies that allow the request anyway, so a status
// rewritten by hand cannot route a request to a policy that does not
// govern it.
func SelectKeeping(
	policies []accessv1alpha1.ApprovalPolicy, namespaceLabels map[string]string, req *accessv1alpha1.AccessRequest, current string,
) (*accessv1alpha1.ApprovalPolicy, *Violation) {
	ref := req.Spec.RoleRef
	if name := req.Spec.Policy; name != "" {
		i := slices.IndexFunc(policies, func(p accessv1alpha1.ApprovalPolicy) bool { return p.Name == name })
		if i < 0 || policies[i].DeletionTimestamp != nil {
			return nil, &Violation{
				Reason: accessv1alpha1.ReasonPolicyNotFound, Field: FieldPolicy,
				Message: fmt.Sprintf("ApprovalPolicy %q does not exist; remove spec.policy or name an existing policy", name),
			}
		}
		p := &policies[i]
		if !Governs(p, namespaceLabels) {
			return nil, &Violation{
				Reason: accessv1alpha1.ReasonNoMatchingPolicy, Field: FieldPolicy,
				Message: fmt.Sprintf("ApprovalPolicy %q does not govern namespace %s; its namespaceSelector does not match", name, req.Namespace),
			}
		}
		if FindEntitlement(p, ref) == nil {
			return nil, &Violation{
				Reason: accessv1alpha1.ReasonRoleNotInCatalog, Field: FieldRoleRef,
				Message: fmt.Sprintf("%s %s is not in the catalog of ApprovalPolicy %q; request one of: %s",
					ref.Kind, ref.Name, name, catalog(p)),
			}
		}
		return p, nil
	}

	var governing, candidates []*accessv1alpha1.ApprovalPolicy
	for i := range policies {
		p := &policies[i]
		if !Governs(p, namespaceLabels) {
			continue
		}
		governing = append(governing, p)
		if FindEntitlement(p, ref) != nil {
			candidates = append(candidates, p)
		}
	}
	if current != "" {
		if i := slices.IndexFunc(candidates, func(p *accessv1alpha1.ApprovalPolicy) bool { return p.Name == current }); i >= 0 {
			return candidates[i], nil
		}
	}
	switch {
	case len(candidates) == 1:
		return candidates[0], nil
	case len(candidates) > 1:
		names := make([]string, 0, len(candidates))
		for _, p := range candidates {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		return nil, &Violation{
			Reason: accessv1alpha1.ReasonAmbiguousPolicy, Field: FieldPolicy,
			Message: fmt.Sprintf("%s %s is allowed in namespace %s by several policies (%s); set spec.policy to one of them",
				ref.Kind, ref.Name, req.Namespace, strings.Join(names, ", ")),
		}
	case len(governing) == 0:
		return nil, &Violation{
			Reason: accessv1alpha1.ReasonNoMatchingPolicy, Field: FieldRoleRef,
			Message: fmt.Sprintf("no policy allows %s %s in namespace %s: no ApprovalPolicy governs the namespace; ask the platform team for one",
				ref.Kind, ref.Name, req.Namespace),
		}
	default:
		offers := make([]string, 0, len(governing))
		for _, p := range governing {
			offers = append(offers, fmt.Sprintf("%s (ApprovalPolicy %q)", catalog(p), p.Name))
		}
		slices.Sort(offers)
		return nil, &Violation{
			Reason: accessv1alpha1.ReasonRoleNotInCatalog, Field: FieldRoleRef,
			Message: fmt.Sprintf("no policy allows %s %s in namespace %s; roles that can be requested here: %s",
				ref.Kind, ref.Name, req.Namespace, strings.Join(offers, "; ")),
		}
	}
}

func catalog(p *accessv1alpha1.ApprovalPolicy) string {
	out := make([]string, 0, len(p.Spec.Entitlements))
	for _, e := range p.Spec.Entitlements {
		out = append(out, e.RoleRef.String())
	}
	return strings.Join(out, ", ")
}
