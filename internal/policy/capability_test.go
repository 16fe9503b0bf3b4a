package policy

import (
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

func TestCapabilities(t *testing.T) {
	rule := riskRule
	core, rbac, apps, batch := []string{""}, []string{rbacv1.GroupName}, []string{"apps"}, []string{"batch"}
	certs, admission, crds := []string{"certificates.k8s.io"}, []string{"admissionregistration.k8s.io"}, []string{"apiextensions.k8s.io"}
	other, anyGroup := []string{"example.com"}, []string{"*"}
	cases := []struct {
		name        string
		rule        rbacv1.PolicyRule
		clusterWide bool
		want        []Capability
	}{
		// Each capability by a minimal rule, and a near miss that is not it.
		{"token-mint: creating service account tokens", rule(core, []string{"serviceaccounts/token"}, []string{"create"}), false, []Capability{CapTokenMint}},
		{"token-mint: creating legacy token Secrets", rule(core, []string{"secrets"}, []string{"create"}), false, []Capability{CapTokenMint}},
		{"near miss: reading service account tokens mints none", rule(core, []string{"serviceaccounts/token"}, []string{"get"}), false, nil},
		{"near miss: creating service accounts mints no token", rule(core, []string{"serviceaccounts"}, []string{"create"}), false, nil},
		{"secret-read: get", rule(core, []string{"secrets"}, []string{"get"}), false, []Capability{CapSecretRead}},
		{"secret-read: list", rule(core, []string{"secrets"}, []string{"list"}), false, []Capability{CapSecretRead}},
		{"near miss: reading secrets of another API group", rule(other, []string{"secrets"}, []string{"get", "list"}), false, nil},
		{"near miss: deleting Secrets reads none", rule(core, []string{"secrets"}, []string{"delete"}), false, nil},
		{"rbac-write: creating RoleBindings", rule(rbac, []string{"rolebindings"}, []string{"create"}), false, []Capability{CapRBACWrite}},
		{"rbac-write: patching Roles", rule(rbac, []string{"roles"}, []string{"patch"}), false, []Capability{CapRBACWrite}},
		{"rbac-write: ClusterRoleBindings cluster-wide", rule(rbac, []string{"clusterrolebindings"}, []string{"update"}), true, []Capability{CapRBACWrite}},
		{"near miss: ClusterRoleBindings bound in a namespace", rule(rbac, []string{"clusterrolebindings"}, []string{"update"}), false, nil},
		{"near miss: reading RoleBindings", rule(rbac, []string{"rolebindings", "roles"}, []string{"get", "list", "watch"}), false, nil},
		{"near miss: rolebindings of the core group", rule(core, []string{"rolebindings"}, []string{"create"}), false, nil},
		{"bind-escalate: bind", rule(rbac, []string{"clusterroles"}, []string{"bind"}), false, []Capability{CapBindEscalate}},
		{"bind-escalate: escalate", rule(rbac, []string{"roles"}, []string{"escalate"}), false, []Capability{CapBindEscalate}},
		{"near miss: reading ClusterRoles", rule(rbac, []string{"clusterroles"}, []string{"get"}), false, nil},
		{"impersonate: users", rule(core, []string{"users"}, []string{"impersonate"}), true, []Capability{CapImpersonate}},
		{"impersonate: service accounts", rule(core, []string{"serviceaccounts"}, []string{"impersonate"}), false, []Capability{CapImpersonate}},
		{"near miss: reading service accounts", rule(core, []string{"serviceaccounts"}, []string{"get", "list"}), false, nil},
		{"pod-exec: exec", rule(core, []string{"pods/exec"}, []string{"create"}), false, []Capability{CapPodExec}},
		{"pod-exec: attach over a websocket", rule(core, []string{"pods/attach"}, []string{"get"}), false, []Capability{CapPodExec}},
		{"pod-exec: port-forward", rule(core, []string{"pods/portforward"}, []string{"create"}), false, []Capability{CapPodExec}},
		{"pod-exec: ephemeral containers", rule(core, []string{"pods/ephemeralcontainers"}, []string{"patch"}), false, []Capability{CapPodExec}},
		{"near miss: reading pod logs", rule(core, []string{"pods/log", "pods"}, []string{"get", "list"}), false, nil},
		{"near miss: reading ephemeral containers", rule(core, []string{"pods/ephemeralcontainers"}, []string{"get"}), false, nil},
		{"workload-create: pods", rule(core, []string{"pods"}, []string{"create"}), false, []Capability{CapWorkloadCreate}},
		{"workload-create: deployments", rule(apps, []string{"deployments"}, []string{"create"}), false, []Capability{CapWorkloadCreate}},
		{"workload-create: cronjobs", rule(batch, []string{"cronjobs"}, []string{"create"}), false, []Capability{CapWorkloadCreate}},
		{"near miss: deployments of the core group", rule(core, []string{"deployments"}, []string{"create"}), false, nil},
		{"near miss: deleting pods", rule(core, []string{"pods"}, []string{"delete", "get"}), false, nil},
		{"node-proxy", rule(core, []string{"nodes/proxy"}, []string{"get"}), true, []Capability{CapNodeProxy}},
		{"near miss: reading nodes", rule(core, []string{"nodes", "nodes/status"}, []string{"get"}), true, nil},
		{"near miss: nodes/proxy bound in a namespace", rule(core, []string{"nodes/proxy"}, []string{"get"}), false, nil},
		{"csr-approve: the approval subresource", rule(certs, []string{"certificatesigningrequests/approval"}, []string{"update"}), true, []Capability{CapCSRApprove}},
		{"csr-approve: approving for a signer", rule(certs, []string{"signers"}, []string{"approve"}), true, []Capability{CapCSRApprove}},
		{"near miss: updating CSRs without approval", rule(certs, []string{"certificatesigningrequests"}, []string{"update"}), true, nil},
		{"csr-create", rule(certs, []string{"certificatesigningrequests"}, []string{"create"}), true, []Capability{CapCSRCreate}},
		{"admission-write: webhooks", rule(admission, []string{"validatingwebhookconfigurations"}, []string{"patch"}), true, []Capability{CapAdmissionWrite}},
		{"admission-write: admission policies", rule(admission, []string{"validatingadmissionpolicies"}, []string{"create"}), true, []Capability{CapAdmissionWrite}},
		{"near miss: reading webhooks", rule(admission, []string{"mutatingwebhookconfigurations"}, []string{"get", "list", "watch"}), true, nil},
		{"crd-write", rule(crds, []string{"customresourcedefinitions"}, []string{"update"}), true, []Capability{CapCRDWrite}},
		{"near miss: reading CRDs", rule(crds, []string{"customresourcedefinitions"}, []string{"get", "list"}), true, nil},
		{"wildcard: every verb on configmaps", rule(core, []string{"configmaps"}, []string{"*"}), false, []Capability{CapWildcard}},
		{"wildcard: every resource of another group", rule(other, []string{"*"}, []string{"get"}), false, []Capability{CapWildcard}},
		{"near miss: a wildcard API group alone", rule(anyGroup, []string{"configmaps"}, []string{"get", "update"}), false, nil},
		{"near miss: non-resource URLs", rbacv1.PolicyRule{NonResourceURLs: []string{"*"}, Verbs: []string{"*"}}, true, nil},

		// Wildcards grant what they cover, as the authorizer matches them.
		{"every verb on Secrets reads and mints", rule(core, []string{"secrets"}, []string{"*"}), false,
			[]Capability{CapWildcard, CapTokenMint, CapSecretRead}},
		{"*/exec covers pods/exec", rule(core, []string{"*/exec"}, []string{"create"}), false, []Capability{CapPodExec}},
		{"cluster-admin-equivalent: everything, cluster-wide", rule(anyGroup, []string{"*"}, []string{"*"}), true, AllCapabilities},
		{"near miss: everything in a namespace is not cluster admin", rule(anyGroup, []string{"*"}, []string{"*"}), false,
			[]Capability{CapWildcard, CapBindEscalate, CapImpersonate, CapRBACWrite, CapTokenMint, CapSecretRead, CapPodExec, CapWorkloadCreate}},
		{"near miss: every verb on every core resource is not cluster admin", rule(core, []string{"*"}, []string{"*"}), true,
			[]Capability{CapWildcard, CapImpersonate, CapTokenMint, CapNodeProxy, CapSecretRead, CapPodExec, CapWorkloadCreate}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Capabilities([]rbacv1.PolicyRule{tc.rule}, tc.clusterWide)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Capabilities(%v, clusterWide=%v) = %v, want %v", tc.rule, tc.clusterWide, got, tc.want)
			}
		})
	}
}

// Every capability in AllCapabilities is reachable by some rule: the
// table and the list agree.
func TestEveryCapabilityHasAGrant(t *testing.T) {
	for _, c := range AllCapabilities {
		if c == CapWildcard || c == CapClusterAdminEquivalent {
			continue
		}
		if !slices.ContainsFunc(capabilityGrants, func(g capabilityGrant) bool { return g.id == c }) {
			t.Errorf("capability %s has no grant in capabilityGrants", c)
		}
	}
}

// The persistence risks are exactly the capability grants that carry a
// reason: one table, two views.
func TestPersistenceRisksAreCapabilities(t *testing.T) {
	for _, g := range capabilityGrants {
		if g.persistence == "" {
			continue
		}
		r := rbacv1.PolicyRule{APIGroups: []string{g.group}, Resources: g.resources[:1], Verbs: g.verbs[:1]}
		risks := PersistenceRisks([]rbacv1.PolicyRule{r})
		if len(risks) != 1 || risks[0].Why != g.persistence {
			t.Errorf("PersistenceRisks(%v) = %v, want %q", r, risks, g.persistence)
		}
		if caps := Capabilities([]rbacv1.PolicyRule{r}, true); !slices.Contains(caps, g.id) {
			t.Errorf("Capabilities(%v) = %v, want %s", r, caps, g.id)
		}
	}
}

func TestCapabilitySeverity(t *testing.T) {
	cases := []struct {
		c       Capability
		scope   Scope
		exposed bool
		want    Severity
	}{
		{CapTokenMint, ScopeCluster, true, SeverityCritical},
		{CapTokenMint, ScopeKubeSystem, true, SeverityCritical},
		{CapTokenMint, ScopeNamespace, true, SeverityHigh},
		{CapTokenMint, ScopeCluster, false, SeverityHigh},
		{CapTokenMint, ScopeNamespace, false, SeverityMedium},
		{CapSecretRead, ScopeCluster, true, SeverityHigh},
		{CapSecretRead, ScopeNamespace, true, SeverityMedium},
		{CapSecretRead, ScopeNamespace, false, SeverityLow},
		{CapCSRCreate, ScopeCluster, true, SeverityMedium},
		{CapCSRCreate, ScopeNamespace, false, SeverityLow},
	}
	for _, tc := range cases {
		if got := CapabilitySeverity(tc.c, tc.scope, tc.exposed); got != tc.want {
			t.Errorf("CapabilitySeverity(%s, %s, exposed=%v) = %s, want %s", tc.c, tc.scope, tc.exposed, got, tc.want)
		}
	}
	if got := MaxSeverity(SeverityLow, SeverityHigh, SeverityMedium); got != SeverityHigh {
		t.Errorf("MaxSeverity = %s, want high", got)
	}
	if got := MaxSeverity(); got != SeverityNone {
		t.Errorf("MaxSeverity() = %s, want none", got)
	}
	if _, err := ParseSeverity("none"); err == nil {
		t.Error("ParseSeverity(none) succeeded; --fail-on=none would fail every run")
	}
	if s, err := ParseSeverity("High"); err != nil || s != SeverityHigh {
		t.Errorf("ParseSeverity(High) = %s, %v", s, err)
	}
	if BindingScope("ClusterRoleBinding", "") != ScopeCluster || BindingScope("RoleBinding", "kube-system") != ScopeKubeSystem ||
		BindingScope("RoleBinding", "team-a") != ScopeNamespace {
		t.Error("BindingScope misjudged a scope")
	}
}
