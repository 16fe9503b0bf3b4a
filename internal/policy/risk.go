package policy

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Risk is a rule of a catalog role that lets a subject outlive its grant
// or widen it: a temporary grant of such a role is not temporary.
type Risk struct {
	Rule rbacv1.PolicyRule
	Why  string
}

func (r Risk) String() string {
	return fmt.Sprintf("rule {apiGroups: %q, resources: %q, verbs: %q} %s",
		r.Rule.APIGroups, r.Rule.Resources, r.Rule.Verbs, r.Why)
}

// persistentCreates are resources whose creation hands out credentials or
// access that outlive the grant.
var persistentCreates = map[string]string{
	"serviceaccounts/token":      "can mint service account tokens that outlive the grant",
	"secrets":                    "can create Secrets, including long-lived service account tokens",
	"rolebindings":               "can create RoleBindings that outlive the grant",
	"clusterrolebindings":        "can create ClusterRoleBindings that outlive the grant",
	"certificatesigningrequests": "can request client certificates that outlive the grant",
}

// admissionResources are webhook configurations whose change lets a subject
// intercept or rewrite what the API server admits.
var admissionResources = []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"}

var writeVerbs = []string{"create", "update", "patch", "delete", "deletecollection"}

// PersistenceRisks lists the rules that let a holder make a grant permanent
// or wider: bind, escalate or impersonate; creating tokens, Secrets,
// (Cluster)RoleBindings or CertificateSigningRequests; writing webhook
// configurations; wildcard verbs or resources. Non-resource rules carry no
// such risk.
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
		for _, v := range []string{"bind", "escalate", "impersonate"} {
			if slices.Contains(r.Verbs, v) {
				add(fmt.Sprintf("has the %s verb, which widens access beyond the role", v))
			}
		}
		if slices.Contains(r.Verbs, "create") {
			for _, res := range r.Resources {
				if why, ok := persistentCreates[res]; ok {
					add(why)
				}
			}
		}
		for _, res := range r.Resources {
			writes := slices.ContainsFunc(r.Verbs, func(v string) bool { return slices.Contains(writeVerbs, v) })
			if slices.Contains(admissionResources, res) && writes {
				add("can change " + res + ", and so what the API server admits")
			}
		}
	}
	return out
}

// DescribeRisks renders risks for a condition message.
func DescribeRisks(role string, risks []Risk) string {
	parts := make([]string, 0, len(risks))
	for _, r := range risks {
		parts = append(parts, r.String())
	}
	return role + ": " + strings.Join(parts, "; ")
}
