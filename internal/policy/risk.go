package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// Risk is a rule of a catalog role that lets a subject outlive its grant
// or widen it: a temporary grant of such a role is not temporary.
type Risk struct {
	Rule rbacv1.PolicyRule
	Why  string
}

// String names the rule as it reads in a manifest, and why it is a risk:
// rule {apiGroups: [""], resources: ["secrets"], verbs: ["get", "create"]} can create Secrets, ...
func (r Risk) String() string {
	return fmt.Sprintf("rule {apiGroups: %s, resources: %s, verbs: %s} %s",
		quoteList(r.Rule.APIGroups), quoteList(r.Rule.Resources), quoteList(r.Rule.Verbs), r.Why)
}

func quoteList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// RBAC verbs that write; capabilityGrants names which of them matter for
// each resource.
const (
	verbCreate           = "create"
	verbUpdate           = "update"
	verbPatch            = "patch"
	verbDelete           = "delete"
	verbDeleteCollection = "deletecollection"
)

var writeVerbs = []string{verbCreate, verbUpdate, verbPatch, verbDelete, verbDeleteCollection}

// PersistenceRisks lists the rules that let a holder make a grant permanent
// or wider: the bind, escalate or impersonate verbs; creating service
// account tokens, Secrets, RoleBindings, ClusterRoleBindings or
// CertificateSigningRequests, or adding subjects to existing bindings;
// writing webhook configurations; a wildcard verb or resource. A rule
// matters for a resource only when its apiGroups hold the resource's group
// (or "*"): creating "secrets" of some other API group is harmless.
// Non-resource rules carry no such risk. The risks are the grants of
// capabilityGrants that carry a persistence reason, so an entitlement's
// risks and a standing binding's capabilities come from one table.
func PersistenceRisks(rules []rbacv1.PolicyRule) []Risk {
	var out []Risk
	for _, r := range rules {
		if len(r.Resources) == 0 {
			continue
		}
		add := func(why string) { out = append(out, Risk{Rule: r, Why: why}) }
		if slices.Contains(r.Verbs, rbacv1.VerbAll) {
			add("grants every verb (*)")
			continue
		}
		if slices.Contains(r.Resources, rbacv1.ResourceAll) {
			add("applies to every resource (*)")
			continue
		}
		for i := range capabilityGrants {
			g := &capabilityGrants[i]
			if g.persistence != "" && g.matches(r, false) {
				add(g.persistence)
			}
		}
	}
	return out
}

func coversGroup(r rbacv1.PolicyRule, group string) bool {
	return slices.Contains(r.APIGroups, group) || slices.Contains(r.APIGroups, rbacv1.APIGroupAll)
}

// coversResource matches as the RBAC authorizer does: the resource itself,
// or "*/sub" for a subresource sub of any resource.
func coversResource(r rbacv1.PolicyRule, resource string) bool {
	_, sub, hasSub := strings.Cut(resource, "/")
	return slices.ContainsFunc(r.Resources, func(res string) bool {
		return res == resource || (hasSub && res == "*/"+sub)
	})
}

// PersistenceRiskFix is how a policy owner resolves an entitlement whose
// role has persistence risks.
const PersistenceRiskFix = "remove the rule, or set allowPersistenceRisk: true with persistenceRiskReason on the entitlement"

// DescribeRisks renders risks for a condition message.
func DescribeRisks(role string, risks []Risk) string {
	parts := make([]string, 0, len(risks))
	for _, r := range risks {
		parts = append(parts, r.String())
	}
	return role + ": " + strings.Join(parts, "; ")
}

// AggregateRules returns a ClusterRole's rules together with those of
// every ClusterRole its aggregationRule selects, followed recursively, each
// ClusterRole visited once and each rule listed once. A cluster's
// aggregation controller writes exactly these rules into the ClusterRole;
// where none runs (envtest, offline files, a ClusterRole applied a moment
// ago) the union judges the ClusterRole as the cluster will. matching lists
// the ClusterRoles a selector matches.
func AggregateRules(root *rbacv1.ClusterRole, matching func(labels.Selector) ([]rbacv1.ClusterRole, error)) ([]rbacv1.PolicyRule, error) {
	var rules []rbacv1.PolicyRule
	add := func(rs []rbacv1.PolicyRule) {
		for _, r := range rs {
			if !slices.ContainsFunc(rules, func(have rbacv1.PolicyRule) bool { return equality.Semantic.DeepEqual(have, r) }) {
				rules = append(rules, r)
			}
		}
	}
	add(root.Rules)
	seen := map[string]bool{root.Name: true}
	queue := []*rbacv1.ClusterRole{root}
	for len(queue) > 0 {
		cr := queue[0]
		queue = queue[1:]
		if cr.AggregationRule == nil {
			continue
		}
		for _, ls := range cr.AggregationRule.ClusterRoleSelectors {
			sel, err := metav1.LabelSelectorAsSelector(&ls)
			if err != nil {
				return nil, fmt.Errorf("ClusterRole %s: aggregationRule: %w", cr.Name, err)
			}
			children, err := matching(sel)
			if err != nil {
				return nil, err
			}
			slices.SortFunc(children, func(a, b rbacv1.ClusterRole) int { return strings.Compare(a.Name, b.Name) })
			for i := range children {
				child := &children[i]
				if seen[child.Name] {
					continue
				}
				seen[child.Name] = true
				add(child.Rules)
				queue = append(queue, child)
			}
		}
	}
	return rules, nil
}

// RiskViolation is the violation Evaluate reports for a request whose role
// has risks the entitlement does not accept; nil if there is none.
func RiskViolation(req *accessv1alpha1.AccessRequest, e *accessv1alpha1.Entitlement, risks []Risk) *Violation {
	if len(risks) == 0 || e == nil || e.AllowPersistenceRisk {
		return nil
	}
	return &Violation{
		Reason: accessv1alpha1.ReasonEntitlementAllowsPersistence, Field: FieldRoleRef,
		Message: fmt.Sprintf("%s lets its holder outlive or widen a temporary grant (%s); ask the policy owner to %s",
			req.Spec.RoleRef, DescribeRisks(req.Spec.RoleRef.String(), risks), PersistenceRiskFix),
	}
}
