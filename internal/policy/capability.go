package policy

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Capability is a stable identifier of something dangerous a set of RBAC
// rules lets its holder do. The IDs are part of rolegate's output
// (`kubectl rolegate inventory -o json`, the docs) and never change meaning.
type Capability string

// The capabilities, most dangerous first; AllCapabilities lists them in this
// order.
const (
	// CapClusterAdminEquivalent: every verb on every resource of every API
	// group, cluster-wide.
	CapClusterAdminEquivalent Capability = "cluster-admin-equivalent"
	// CapWildcard: a rule with a wildcard verb or resource.
	CapWildcard Capability = "wildcard"
	// CapBindEscalate: the bind or escalate verb, so roles wider than the
	// holder's own can be bound or written.
	CapBindEscalate Capability = "bind-escalate"
	// CapImpersonate: the impersonate verb.
	CapImpersonate Capability = "impersonate"
	// CapRBACWrite: writing Roles, ClusterRoles or their bindings.
	CapRBACWrite Capability = "rbac-write"
	// CapTokenMint: minting service account tokens (serviceaccounts/token
	// create) or legacy token Secrets (secrets create).
	CapTokenMint Capability = "token-mint"
	// CapNodeProxy: nodes/proxy, which reaches every kubelet's API.
	CapNodeProxy Capability = "node-proxy"
	// CapAdmissionWrite: writing admission webhook or admission policy
	// configurations, and so what the API server admits.
	CapAdmissionWrite Capability = "admission-write"
	// CapCSRApprove: approving CertificateSigningRequests.
	CapCSRApprove Capability = "csr-approve"
	// CapCRDWrite: writing CustomResourceDefinitions.
	CapCRDWrite Capability = "crd-write"
	// CapSecretRead: reading Secrets.
	CapSecretRead Capability = "secret-read"
	// CapPodExec: exec, attach, port-forward or ephemeral containers in pods.
	CapPodExec Capability = "pod-exec"
	// CapWorkloadCreate: creating pods or pod controllers, which can run a
	// pod as any service account of the namespace.
	CapWorkloadCreate Capability = "workload-create"
	// CapCSRCreate: requesting client certificates.
	CapCSRCreate Capability = "csr-create"
)

// AllCapabilities lists every capability, most dangerous first.
var AllCapabilities = []Capability{
	CapClusterAdminEquivalent, CapWildcard, CapBindEscalate, CapImpersonate, CapRBACWrite, CapTokenMint,
	CapNodeProxy, CapAdmissionWrite, CapCSRApprove, CapCRDWrite, CapSecretRead, CapPodExec, CapWorkloadCreate,
	CapCSRCreate,
}

// capabilityGrant is one way to hold a capability: a verb on a resource of
// an API group.
type capabilityGrant struct {
	id        Capability
	group     string
	resources []string
	// verbs grant the capability; explicitly listed in a rule they grant it
	// on any resource when anyResource is set (bind on anything is judged
	// as bind), a wildcard verb only on resources.
	verbs       []string
	anyResource bool
	// clusterScoped resources are granted only by a ClusterRoleBinding.
	clusterScoped bool
	// persistence is why the grant makes a temporary grant permanent or
	// wider; such grants are PersistenceRisks. Empty for the others.
	persistence string
}

// API groups, resources and verbs the table names more than once.
const (
	groupCertificates = "certificates.k8s.io"
	groupAdmission    = "admissionregistration.k8s.io"
	resRoles          = "roles"
	resClusterRoles   = "clusterroles"
	verbGet           = "get"
)

var (
	podControllers = []string{"deployments", "replicasets", "statefulsets", "daemonsets"}
	batchWorkloads = []string{"jobs", "cronjobs"}
	admissionKinds = []string{"validatingadmissionpolicies", "validatingadmissionpolicybindings",
		"mutatingadmissionpolicies", "mutatingadmissionpolicybindings"}
)

// capabilityGrants is the one table behind Capabilities and
// PersistenceRisks. PersistenceRisks reports the grants with a persistence
// reason in this order, so keep the order of those entries.
var capabilityGrants = []capabilityGrant{
	{id: CapBindEscalate, group: rbacv1.GroupName, resources: []string{resRoles, resClusterRoles}, verbs: []string{"bind"},
		anyResource: true, persistence: "has the bind verb, which widens access beyond the role"},
	{id: CapBindEscalate, group: rbacv1.GroupName, resources: []string{resRoles, resClusterRoles}, verbs: []string{"escalate"},
		anyResource: true, persistence: "has the escalate verb, which widens access beyond the role"},
	{id: CapImpersonate, group: "", resources: []string{"users", "groups", "serviceaccounts"}, verbs: []string{"impersonate"},
		anyResource: true, persistence: "has the impersonate verb, which widens access beyond the role"},
	{id: CapTokenMint, group: "", resources: []string{"serviceaccounts/token"}, verbs: []string{verbCreate},
		persistence: "can mint service account tokens that outlive the grant"},
	{id: CapTokenMint, group: "", resources: []string{"secrets"}, verbs: []string{verbCreate},
		persistence: "can create Secrets, including long-lived service account tokens"},
	{id: CapRBACWrite, group: rbacv1.GroupName, resources: []string{"rolebindings"}, verbs: []string{verbCreate},
		persistence: "can create RoleBindings that outlive the grant"},
	{id: CapRBACWrite, group: rbacv1.GroupName, resources: []string{"rolebindings"}, verbs: []string{verbUpdate, verbPatch},
		persistence: "can add subjects to existing RoleBindings, which outlive the grant"},
	{id: CapRBACWrite, group: rbacv1.GroupName, resources: []string{"clusterrolebindings"}, verbs: []string{verbCreate},
		clusterScoped: true, persistence: "can create ClusterRoleBindings that outlive the grant"},
	{id: CapRBACWrite, group: rbacv1.GroupName, resources: []string{"clusterrolebindings"}, verbs: []string{verbUpdate, verbPatch},
		clusterScoped: true, persistence: "can add subjects to existing ClusterRoleBindings, which outlive the grant"},
	{id: CapCSRCreate, group: groupCertificates, resources: []string{"certificatesigningrequests"}, verbs: []string{verbCreate},
		clusterScoped: true, persistence: "can request client certificates that outlive the grant"},
	{id: CapAdmissionWrite, group: groupAdmission, resources: []string{"mutatingwebhookconfigurations"}, verbs: writeVerbs,
		clusterScoped: true, persistence: "can change mutatingwebhookconfigurations, and so what the API server admits"},
	{id: CapAdmissionWrite, group: groupAdmission, resources: []string{"validatingwebhookconfigurations"}, verbs: writeVerbs,
		clusterScoped: true, persistence: "can change validatingwebhookconfigurations, and so what the API server admits"},

	// Capabilities that are not persistence risks of a temporary grant.
	{id: CapRBACWrite, group: rbacv1.GroupName, resources: []string{resRoles}, verbs: []string{verbCreate, verbUpdate, verbPatch}},
	{id: CapRBACWrite, group: rbacv1.GroupName, resources: []string{resClusterRoles}, verbs: []string{verbCreate, verbUpdate, verbPatch},
		clusterScoped: true},
	{id: CapAdmissionWrite, group: groupAdmission, resources: admissionKinds, verbs: writeVerbs, clusterScoped: true},
	{id: CapImpersonate, group: "authentication.k8s.io", resources: []string{"uids", "userextras"}, verbs: []string{"impersonate"}},
	{id: CapSecretRead, group: "", resources: []string{"secrets"}, verbs: []string{verbGet, "list", "watch"}},
	{id: CapPodExec, group: "", resources: []string{"pods/exec", "pods/attach", "pods/portforward"}, verbs: []string{verbCreate, verbGet}},
	{id: CapPodExec, group: "", resources: []string{"pods/ephemeralcontainers"}, verbs: []string{verbUpdate, verbPatch}},
	{id: CapWorkloadCreate, group: "", resources: []string{"pods", "replicationcontrollers"}, verbs: []string{verbCreate}},
	{id: CapWorkloadCreate, group: "apps", resources: podControllers, verbs: []string{verbCreate}},
	{id: CapWorkloadCreate, group: "batch", resources: batchWorkloads, verbs: []string{verbCreate}},
	{id: CapNodeProxy, group: "", resources: []string{"nodes/proxy"},
		verbs: []string{verbGet, verbCreate, verbUpdate, verbPatch, verbDelete}, clusterScoped: true},
	{id: CapCSRApprove, group: groupCertificates, resources: []string{"certificatesigningrequests/approval"},
		verbs: []string{verbUpdate, verbPatch}, clusterScoped: true},
	{id: CapCSRApprove, group: groupCertificates, resources: []string{"signers"}, verbs: []string{"approve"}, clusterScoped: true},
	{id: CapCRDWrite, group: "apiextensions.k8s.io", resources: []string{"customresourcedefinitions"}, verbs: writeVerbs,
		clusterScoped: true},
}

// matches reports whether rule r holds the grant. With wildcards the rule
// matches as the RBAC authorizer does: "*" verbs, groups and resources, and
// "*/sub" for a subresource; PersistenceRisks reports wildcards on their own
// and asks for explicit verbs and resources (wildcards false).
func (g *capabilityGrant) matches(r rbacv1.PolicyRule, wildcards bool) bool {
	explicit := slices.ContainsFunc(r.Verbs, func(v string) bool { return slices.Contains(g.verbs, v) })
	if explicit && g.anyResource {
		return true
	}
	verbOK := explicit || (wildcards && slices.Contains(r.Verbs, rbacv1.VerbAll))
	if !verbOK || !coversGroup(r, g.group) {
		return false
	}
	return slices.ContainsFunc(g.resources, func(res string) bool {
		return coversResource(r, res) || (wildcards && slices.Contains(r.Resources, rbacv1.ResourceAll))
	})
}

// Capabilities lists what rules let their holder do, as AllCapabilities
// orders them. clusterWide says the rules are bound cluster-wide (a
// ClusterRoleBinding); bound in a namespace (a RoleBinding) they reach no
// cluster-scoped resource, so node-proxy, csr-approve, admission-write,
// crd-write, writing ClusterRoles and ClusterRoleBindings and
// cluster-admin-equivalent do not apply. Non-resource rules give no
// capability.
func Capabilities(rules []rbacv1.PolicyRule, clusterWide bool) []Capability {
	has := map[Capability]bool{}
	for _, r := range rules {
		if len(r.Resources) == 0 {
			continue
		}
		if slices.Contains(r.Verbs, rbacv1.VerbAll) || slices.Contains(r.Resources, rbacv1.ResourceAll) {
			has[CapWildcard] = true
		}
		if clusterWide && slices.Contains(r.Verbs, rbacv1.VerbAll) && slices.Contains(r.Resources, rbacv1.ResourceAll) &&
			slices.Contains(r.APIGroups, rbacv1.APIGroupAll) {
			has[CapClusterAdminEquivalent] = true
		}
		for i := range capabilityGrants {
			g := &capabilityGrants[i]
			if has[g.id] || (g.clusterScoped && !clusterWide) {
				continue
			}
			if g.matches(r, true) {
				has[g.id] = true
			}
		}
	}
	var out []Capability
	for _, c := range AllCapabilities {
		if has[c] {
			out = append(out, c)
		}
	}
	return out
}

// Severity ranks a finding of the standing-access inventory.
type Severity string

// Severities, from the most to the least severe. SeverityNone is a service
// account or binding with no capability.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
	SeverityNone     Severity = "none"
)

// Severities lists the severities from the most to the least severe.
var Severities = []Severity{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityNone}

// Rank orders severities: critical is 4, none 0, anything else -1.
func (s Severity) Rank() int {
	if i := slices.Index(Severities, s); i >= 0 {
		return len(Severities) - 1 - i
	}
	return -1
}

// AtLeast reports whether s is as severe as t or more.
func (s Severity) AtLeast(t Severity) bool { return s.Rank() >= t.Rank() }

// ParseSeverity returns the severity named s (critical, high, medium, low).
func ParseSeverity(s string) (Severity, error) {
	sev := Severity(strings.ToLower(strings.TrimSpace(s)))
	if sev.Rank() <= 0 {
		return "", fmt.Errorf("unknown severity %q; use one of critical, high, medium, low", s)
	}
	return sev, nil
}

// Scope is where a binding grants its rules.
type Scope string

// Scopes of a binding.
const (
	// ScopeCluster: a ClusterRoleBinding, every namespace and the cluster.
	ScopeCluster Scope = "cluster"
	// ScopeKubeSystem: a RoleBinding in kube-system, whose Secrets and
	// service accounts are the control plane's.
	ScopeKubeSystem Scope = "kube-system"
	// ScopeNamespace: a RoleBinding in any other namespace.
	ScopeNamespace Scope = "namespace"
)

// BindingScope is the scope of a binding of the kind (RoleBinding or
// ClusterRoleBinding) in the namespace.
func BindingScope(kind, namespace string) Scope {
	switch {
	case kind == "ClusterRoleBinding":
		return ScopeCluster
	case namespace == "kube-system":
		return ScopeKubeSystem
	default:
		return ScopeNamespace
	}
}

// baseSeverity is a capability's severity when held cluster-wide by a
// service account that running pods mount.
func baseSeverity(c Capability) Severity {
	switch c {
	case CapClusterAdminEquivalent, CapWildcard, CapBindEscalate, CapImpersonate, CapRBACWrite, CapTokenMint,
		CapNodeProxy, CapAdmissionWrite, CapCSRApprove:
		return SeverityCritical
	case CapCRDWrite, CapSecretRead, CapPodExec, CapWorkloadCreate:
		return SeverityHigh
	default:
		return SeverityMedium
	}
}

// CapabilitySeverity is the severity of holding c: the capability's base
// severity (critical for the capabilities that take over the cluster or
// escalate: cluster-admin-equivalent, wildcard, bind-escalate, impersonate,
// rbac-write, token-mint, node-proxy, admission-write, csr-approve; high for
// crd-write, secret-read, pod-exec, workload-create; medium for
// csr-create), one level lower when the scope is a namespace other than
// kube-system, and one level lower again when the service account is not
// exposed (no running pod mounts it and no legacy token Secret holds a
// token for it), never below low.
func CapabilitySeverity(c Capability, scope Scope, exposed bool) Severity {
	rank := baseSeverity(c).Rank()
	if scope == ScopeNamespace {
		rank--
	}
	if !exposed {
		rank--
	}
	return Severities[len(Severities)-1-max(rank, SeverityLow.Rank())]
}

// MaxSeverity is the most severe of severities, SeverityNone for none.
func MaxSeverity(severities ...Severity) Severity {
	out := SeverityNone
	for _, s := range severities {
		if s.Rank() > out.Rank() {
			out = s
		}
	}
	return out
}
