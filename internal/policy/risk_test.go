package policy

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

func TestPersistenceRisks(t *testing.T) {
	rule := func(groups, resources, verbs []string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: groups, Resources: resources, Verbs: verbs}
	}
	core, rbac := []string{""}, []string{"rbac.authorization.k8s.io"}
	cases := []struct {
		name  string
		rules []rbacv1.PolicyRule
		want  []string // substrings of each risk's reason, in order
	}{
		{"a read-only role is harmless", []rbacv1.PolicyRule{rule(core, []string{"pods", "configmaps"}, []string{"get", "list", "watch"})}, nil},
		{"writing ordinary resources is harmless", []rbacv1.PolicyRule{rule([]string{"batch"}, []string{"jobs"}, []string{"create", "delete"})}, nil},
		{"reading Secrets is not flagged as persistence", []rbacv1.PolicyRule{rule(core, []string{"secrets"}, []string{"get"})}, nil},
		{"bind is flagged", []rbacv1.PolicyRule{rule(rbac, []string{"clusterroles"}, []string{"bind"})}, []string{"bind verb"}},
		{"escalate is flagged", []rbacv1.PolicyRule{rule(rbac, []string{"roles"}, []string{"escalate"})}, []string{"escalate verb"}},
		{"impersonate is flagged", []rbacv1.PolicyRule{rule(core, []string{"users", "serviceaccounts"}, []string{"impersonate"})}, []string{"impersonate verb"}},
		{"minting tokens is flagged", []rbacv1.PolicyRule{rule(core, []string{"serviceaccounts/token"}, []string{"create"})}, []string{"mint service account tokens"}},
		{"creating Secrets is flagged", []rbacv1.PolicyRule{rule(core, []string{"secrets"}, []string{"create"})}, []string{"create Secrets"}},
		{"creating RoleBindings is flagged", []rbacv1.PolicyRule{rule(rbac, []string{"rolebindings"}, []string{"create"})}, []string{"RoleBindings that outlive"}},
		{"creating ClusterRoleBindings is flagged", []rbacv1.PolicyRule{rule(rbac, []string{"clusterrolebindings"}, []string{"create"})}, []string{"ClusterRoleBindings"}},
		{"requesting certificates is flagged", []rbacv1.PolicyRule{rule([]string{"certificates.k8s.io"}, []string{"certificatesigningrequests"}, []string{"create"})}, []string{"client certificates"}},
		{"writing webhook configurations is flagged", []rbacv1.PolicyRule{rule([]string{"admissionregistration.k8s.io"}, []string{"mutatingwebhookconfigurations"}, []string{"patch"})}, []string{"mutatingwebhookconfigurations"}},
		{"reading webhook configurations is harmless", []rbacv1.PolicyRule{rule([]string{"admissionregistration.k8s.io"}, []string{"validatingwebhookconfigurations"}, []string{"get", "list"})}, nil},
		{"a wildcard verb is flagged", []rbacv1.PolicyRule{rule(core, []string{"configmaps"}, []string{"*"})}, []string{"every verb"}},
		{"a wildcard resource is flagged", []rbacv1.PolicyRule{rule(core, []string{"*"}, []string{"get"})}, []string{"every resource"}},
		{"non-resource URLs are not resources", []rbacv1.PolicyRule{{NonResourceURLs: []string{"/healthz"}, Verbs: []string{"*"}}}, nil},
		{"each risky rule is reported", []rbacv1.PolicyRule{
			rule(core, []string{"pods"}, []string{"get"}),
			rule(core, []string{"secrets"}, []string{"create"}),
			rule(rbac, []string{"rolebindings"}, []string{"create"}),
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
	msg := DescribeRisks("ClusterRole/edit", PersistenceRisks([]rbacv1.PolicyRule{rule(core, []string{"secrets"}, []string{"create"})}))
	if !strings.HasPrefix(msg, `ClusterRole/edit: rule {apiGroups: [""], resources: ["secrets"], verbs: ["create"]}`) {
		t.Errorf("message = %q, want it to name the role and the rule", msg)
	}
}
