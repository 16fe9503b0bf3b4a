package policy

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// riskRule is a resource rule of the given API groups.
func riskRule(groups, resources, verbs []string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: groups, Resources: resources, Verbs: verbs}
}

func TestPersistenceRisks(t *testing.T) {
	rule := riskRule
	coreGroup, rbacGroup, certsGroup := []string{""}, []string{"rbac.authorization.k8s.io"}, []string{"certificates.k8s.io"}
	admissionGroup, otherGroup, anyGroup := []string{"admissionregistration.k8s.io"}, []string{"example.com"}, []string{"*"}
	cases := []struct {
		name  string
		rules []rbacv1.PolicyRule
		want  []string // substrings of each risk's reason, in order
	}{
		// Harmless.
		{"no rules", nil, nil},
		{"a read-only role is harmless", []rbacv1.PolicyRule{rule(coreGroup, []string{"pods", "configmaps"}, []string{"get", "list", "watch"})}, nil},
		{"writing ordinary resources is harmless", []rbacv1.PolicyRule{rule([]string{"batch"}, []string{"jobs"}, []string{"create", "delete"})}, nil},
		{"reading Secrets is harmless", []rbacv1.PolicyRule{rule(coreGroup, []string{"secrets"}, []string{"get", "list", "watch"})}, nil},
		{"updating Secrets is harmless", []rbacv1.PolicyRule{rule(coreGroup, []string{"secrets"}, []string{"update", "patch", "delete"})}, nil},
		{"creating secrets of another API group is harmless", []rbacv1.PolicyRule{rule(otherGroup, []string{"secrets"}, []string{"create"})}, nil},
		{"creating rolebindings of the core group is harmless", []rbacv1.PolicyRule{rule(coreGroup, []string{"rolebindings", "clusterrolebindings"}, []string{"create"})}, nil},
		{"creating certificatesigningrequests of another group is harmless", []rbacv1.PolicyRule{rule(otherGroup, []string{"certificatesigningrequests"}, []string{"create"})}, nil},
		{"writing webhook configurations of another group is harmless", []rbacv1.PolicyRule{rule(otherGroup, []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"}, []string{"patch"})}, nil},
		{"creating service account tokens of another group is harmless", []rbacv1.PolicyRule{rule(otherGroup, []string{"serviceaccounts/token"}, []string{"create"})}, nil},
		{"reading service account tokens is harmless", []rbacv1.PolicyRule{rule(coreGroup, []string{"serviceaccounts/token"}, []string{"get"})}, nil},
		{"creating service accounts is harmless", []rbacv1.PolicyRule{rule(coreGroup, []string{"serviceaccounts"}, []string{"create"})}, nil},
		{"reading bindings is harmless", []rbacv1.PolicyRule{rule(rbacGroup, []string{"rolebindings", "clusterrolebindings"}, []string{"get", "list", "watch"})}, nil},
		{"deleting bindings is harmless", []rbacv1.PolicyRule{rule(rbacGroup, []string{"rolebindings"}, []string{"delete"})}, nil},
		{"reading webhook configurations is harmless", []rbacv1.PolicyRule{rule(admissionGroup, []string{"validatingwebhookconfigurations"}, []string{"get", "list"})}, nil},
		{"reading CertificateSigningRequests is harmless", []rbacv1.PolicyRule{rule(certsGroup, []string{"certificatesigningrequests"}, []string{"get", "list"})}, nil},
		{"a wildcard API group with a harmless rule is harmless", []rbacv1.PolicyRule{rule(anyGroup, []string{"deployments"}, []string{"get", "update"})}, nil},
		{"non-resource URLs are not resources", []rbacv1.PolicyRule{{NonResourceURLs: []string{"/healthz"}, Verbs: []string{"*"}}}, nil},

		// Flagged verbs, whatever the resource.
		{"bind is flagged", []rbacv1.PolicyRule{rule(rbacGroup, []string{"clusterroles"}, []string{"bind"})}, []string{"bind verb"}},
		{"escalate is flagged", []rbacv1.PolicyRule{rule(rbacGroup, []string{"roles"}, []string{"escalate"})}, []string{"escalate verb"}},
		{"impersonate is flagged", []rbacv1.PolicyRule{rule(coreGroup, []string{"users", "serviceaccounts"}, []string{"impersonate"})}, []string{"impersonate verb"}},
		{"each flagged verb of a rule is reported", []rbacv1.PolicyRule{rule(rbacGroup, []string{"roles"}, []string{"get", "bind", "escalate"})},
			[]string{"bind verb", "escalate verb"}},

		// Flagged writes, in the resource's API group.
		{"minting tokens is flagged", []rbacv1.PolicyRule{rule(coreGroup, []string{"serviceaccounts/token"}, []string{"create"})}, []string{"mint service account tokens"}},
		{"minting tokens through */token is flagged", []rbacv1.PolicyRule{rule(coreGroup, []string{"*/token"}, []string{"create"})}, []string{"mint service account tokens"}},
		{"creating Secrets is flagged", []rbacv1.PolicyRule{rule(coreGroup, []string{"secrets"}, []string{"create"})}, []string{"create Secrets"}},
		{"creating RoleBindings is flagged", []rbacv1.PolicyRule{rule(rbacGroup, []string{"rolebindings"}, []string{"create"})}, []string{"create RoleBindings that outlive"}},
		{"patching RoleBindings is flagged", []rbacv1.PolicyRule{rule(rbacGroup, []string{"rolebindings"}, []string{"patch"})}, []string{"existing RoleBindings"}},
		{"creating ClusterRoleBindings is flagged", []rbacv1.PolicyRule{rule(rbacGroup, []string{"clusterrolebindings"}, []string{"create"})}, []string{"create ClusterRoleBindings"}},
		{"updating ClusterRoleBindings is flagged", []rbacv1.PolicyRule{rule(rbacGroup, []string{"clusterrolebindings"}, []string{"update"})}, []string{"existing ClusterRoleBindings"}},
		{"requesting certificates is flagged", []rbacv1.PolicyRule{rule(certsGroup, []string{"certificatesigningrequests"}, []string{"create"})}, []string{"client certificates"}},
		{"writing mutating webhook configurations is flagged", []rbacv1.PolicyRule{rule(admissionGroup, []string{"mutatingwebhookconfigurations"}, []string{"patch"})},
			[]string{"mutatingwebhookconfigurations"}},
		{"writing validating webhook configurations is flagged", []rbacv1.PolicyRule{rule(admissionGroup, []string{"validatingwebhookconfigurations"}, []string{"delete"})},
			[]string{"validatingwebhookconfigurations"}},
		{"a wildcard API group covers the core group", []rbacv1.PolicyRule{rule(anyGroup, []string{"secrets"}, []string{"create"})}, []string{"create Secrets"}},
		{"a rule of several groups covers each", []rbacv1.PolicyRule{rule([]string{"", "rbac.authorization.k8s.io"}, []string{"secrets", "rolebindings"}, []string{"create"})},
			[]string{"create Secrets", "create RoleBindings"}},

		// Wildcards.
		{"a wildcard verb is flagged", []rbacv1.PolicyRule{rule(coreGroup, []string{"configmaps"}, []string{"*"})}, []string{"every verb"}},
		{"a wildcard verb is flagged in any group", []rbacv1.PolicyRule{rule(otherGroup, []string{"widgets"}, []string{"*"})}, []string{"every verb"}},
		{"a wildcard resource is flagged", []rbacv1.PolicyRule{rule(coreGroup, []string{"*"}, []string{"get"})}, []string{"every resource"}},
		{"a wildcard rule is reported once", []rbacv1.PolicyRule{rule(anyGroup, []string{"*"}, []string{"*"})}, []string{"every verb"}},

		{"each risky rule is reported", []rbacv1.PolicyRule{
			rule(coreGroup, []string{"pods"}, []string{"get"}),
			rule(coreGroup, []string{"secrets"}, []string{"create"}),
			rule(rbacGroup, []string{"rolebindings"}, []string{"create"}),
		}, []string{"create Secrets", "RoleBindings that outlive"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := PersistenceRisks(tc.rules)
			if len(got) != len(tc.want) {
				t.Fatalf("PersistenceRisks = %v, want %d risks", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i].Why, w) {
					t.Errorf("risk %d = %q, want it to mention %q", i, got[i].Why, w)
				}
			}
		})
	}
}

func TestDescribeRisks(t *testing.T) {
	msg := DescribeRisks("ClusterRole/edit", PersistenceRisks([]rbacv1.PolicyRule{
		riskRule([]string{""}, []string{"secrets"}, []string{"create"}),
		riskRule([]string{"rbac.authorization.k8s.io"}, []string{"roles"}, []string{"get", "bind"}),
	}))
	want := `ClusterRole/edit: rule {apiGroups: [""], resources: ["secrets"], verbs: ["create"]} can create Secrets, ` +
		`including long-lived service account tokens; ` +
		`rule {apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles"], verbs: ["get", "bind"]} has the bind verb, ` +
		`which widens access beyond the role`
	if msg != want {
		t.Errorf("DescribeRisks =\n  %s\nwant\n  %s", msg, want)
	}
}

func TestRiskViolation(t *testing.T) {
	req := &accessv1alpha1.AccessRequest{Spec: accessv1alpha1.AccessRequestSpec{
		RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "secret-writer"}}}
	risks := PersistenceRisks([]rbacv1.PolicyRule{riskRule([]string{""}, []string{"secrets"}, []string{"create"})})
	e := &accessv1alpha1.Entitlement{RoleRef: req.Spec.RoleRef, MaxDuration: metav1.Duration{}}

	v := RiskViolation(req, e, risks)
	if v == nil {
		t.Fatal("RiskViolation = nil for an unaccepted risk")
	}
	if v.Reason != accessv1alpha1.ReasonEntitlementAllowsPersistence || v.Field != FieldRoleRef ||
		!strings.Contains(v.Message, "Role/secret-writer") || !strings.Contains(v.Message, "allowPersistenceRisk") {
		t.Errorf("RiskViolation = %+v, want it to name the role and the fix", v)
	}
	if v := RiskViolation(req, e, nil); v != nil {
		t.Errorf("RiskViolation without risks = %+v, want nil", v)
	}
	if v := RiskViolation(req, nil, risks); v != nil {
		t.Errorf("RiskViolation without entitlement = %+v, want nil", v)
	}
	accepted := *e
	accepted.AllowPersistenceRisk, accepted.PersistenceRiskReason = true, "migrations write their own Secrets"
	if v := RiskViolation(req, &accepted, risks); v != nil {
		t.Errorf("RiskViolation with the risk accepted = %+v, want nil", v)
	}
}

func TestAggregateRules(t *testing.T) {
	cr := func(name string, lbls map[string]string, selects []map[string]string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
		c := rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}, Rules: rules}
		if selects != nil {
			c.AggregationRule = &rbacv1.AggregationRule{}
			for _, s := range selects {
				c.AggregationRule.ClusterRoleSelectors = append(c.AggregationRule.ClusterRoleSelectors, metav1.LabelSelector{MatchLabels: s})
			}
		}
		return c
	}
	core := []string{""}
	a, b := map[string]string{"to": "a"}, map[string]string{"to": "b"}
	all := []rbacv1.ClusterRole{
		// root aggregates a; a's children include b-parent, which aggregates b,
		// whose child selects a again (a cycle); root already holds one
		// child's rule, as a cluster's aggregation controller leaves it.
		cr("root", nil, []map[string]string{a}, riskRule(core, []string{"pods"}, []string{"get"})),
		cr("z-pods", a, nil, riskRule(core, []string{"pods"}, []string{"get"})),
		cr("b-parent", a, []map[string]string{b}),
		cr("secrets", b, []map[string]string{a}, riskRule(core, []string{"secrets"}, []string{"create"})),
		cr("unrelated", nil, nil, riskRule(core, []string{"nodes"}, []string{"get"})),
	}
	matching := func(sel labels.Selector) ([]rbacv1.ClusterRole, error) {
		var out []rbacv1.ClusterRole
		for _, c := range all {
			if sel.Matches(labels.Set(c.Labels)) {
				out = append(out, c)
			}
		}
		return out, nil
	}
	rules, err := AggregateRules(&all[0], matching)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, r.Resources[0])
	}
	if strings.Join(got, ",") != "pods,secrets" {
		t.Errorf("AggregateRules resources = %v, want [pods secrets]", got)
	}
	if risks := PersistenceRisks(rules); len(risks) != 1 || !strings.Contains(risks[0].Why, "create Secrets") {
		t.Errorf("risks of the aggregate = %v, want the grandchild's Secret rule", risks)
	}

	plain := cr("plain", nil, nil, riskRule(core, []string{"pods"}, []string{"get"}))
	if rules, err := AggregateRules(&plain, func(labels.Selector) ([]rbacv1.ClusterRole, error) {
		t.Error("a ClusterRole without aggregationRule lists nothing")
		return nil, nil
	}); err != nil || len(rules) != 1 {
		t.Errorf("AggregateRules(plain) = %v, %v", rules, err)
	}

	bad := cr("bad", nil, nil)
	bad.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "k", Operator: "Bogus"}}}}}
	if _, err := AggregateRules(&bad, matching); err == nil || !strings.Contains(err.Error(), "ClusterRole bad") {
		t.Errorf("AggregateRules with an invalid selector: err = %v", err)
	}
}
