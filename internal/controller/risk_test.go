package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/test/utils"
)

const persistenceFix = "remove the rule, or set allowPersistenceRisk: true with persistenceRiskReason"

var (
	coreAPI      = []string{""}
	rbacAPI      = []string{rbacv1.GroupName}
	admissionAPI = []string{"admissionregistration.k8s.io"}
)

func policyRule(groups, resources, verbs []string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: groups, Resources: resources, Verbs: verbs}
}

// riskPolicy is an ApprovalPolicy governing namespaces labelled risk=ns
// whose catalog offers one auto-approved role.
func riskPolicy(name, ns string, ref accessv1alpha1.RoleRef) *accessv1alpha1.ApprovalPolicy {
	return &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"risk": ns}},
			Entitlements: []accessv1alpha1.Entitlement{{RoleRef: ref,
				MaxDuration: metav1.Duration{Duration: time.Hour}, AutoApprove: true}},
		},
	}
}

// riskNamespace creates a namespace for the risk tests; policies select it
// by its risk label.
func riskNamespace(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("risk-%d", worldSeq.Add(1))
	must(t, k8s.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"risk": ns}}}))
	return ns
}

// createRole creates a Role in ns or a ClusterRole (removed when the test
// ends) and returns its reference.
func createRole(t *testing.T, kind accessv1alpha1.RoleKind, ns, name string, rules ...rbacv1.PolicyRule) accessv1alpha1.RoleRef {
	t.Helper()
	if kind == accessv1alpha1.RoleKindRole {
		must(t, k8s.Create(t.Context(), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Rules: rules}))
	} else {
		cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
		must(t, k8s.Create(t.Context(), cr))
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), cr) })
	}
	return accessv1alpha1.RoleRef{Kind: kind, Name: name}
}

func createPolicy(t *testing.T, p *accessv1alpha1.ApprovalPolicy) {
	t.Helper()
	must(t, k8s.Create(t.Context(), p))
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })
}

func wantInMessage(t *testing.T, c metav1.Condition, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(c.Message, p) {
			t.Errorf("Ready message = %q, want it to contain %q", c.Message, p)
		}
	}
}

// Every kind of rule that lets a holder outlive or widen a grant, in a real
// Role or ClusterRole, makes the policy offering it Ready=False; each case
// has a policy of its own, reconciled side by side.
func TestPolicyFlagsEveryPersistenceRisk(t *testing.T) {
	utils.RequireEnvtest(t)
	ns := riskNamespace(t)
	role, cluster := accessv1alpha1.RoleKindRole, accessv1alpha1.RoleKindClusterRole
	cases := []struct {
		name string
		kind accessv1alpha1.RoleKind
		rule rbacv1.PolicyRule
		why  string // empty: harmless
	}{
		{"bind verb", cluster, policyRule(rbacAPI, []string{"clusterroles"}, []string{"bind"}), "has the bind verb"},
		{"escalate verb", role, policyRule(rbacAPI, []string{"roles"}, []string{"escalate"}), "has the escalate verb"},
		{"impersonate verb", cluster, policyRule(coreAPI, []string{"serviceaccounts"}, []string{"impersonate"}), "has the impersonate verb"},
		{"create serviceaccounts/token", role, policyRule(coreAPI, []string{"serviceaccounts/token"}, []string{"create"}),
			"can mint service account tokens"},
		{"create secrets", role, policyRule(coreAPI, []string{"secrets"}, []string{"create"}), "can create Secrets"},
		{"create rolebindings", role, policyRule(rbacAPI, []string{"rolebindings"}, []string{"create"}), "can create RoleBindings"},
		{"create clusterrolebindings", cluster, policyRule(rbacAPI, []string{"clusterrolebindings"}, []string{"create"}),
			"can create ClusterRoleBindings"},
		{"create certificatesigningrequests", cluster,
			policyRule([]string{"certificates.k8s.io"}, []string{"certificatesigningrequests"}, []string{"create"}), "can request client certificates"},
		{"write mutatingwebhookconfigurations", cluster, policyRule(admissionAPI, []string{"mutatingwebhookconfigurations"}, []string{"patch"}),
			"can change mutatingwebhookconfigurations"},
		{"write validatingwebhookconfigurations", cluster, policyRule(admissionAPI, []string{"validatingwebhookconfigurations"}, []string{"update"}),
			"can change validatingwebhookconfigurations"},
		{"wildcard verb", role, policyRule(coreAPI, []string{"configmaps"}, []string{"*"}), "grants every verb"},
		{"wildcard resource", role, policyRule(coreAPI, []string{"*"}, []string{"get"}), "applies to every resource"},
		{"reading secrets is harmless", role, policyRule(coreAPI, []string{"secrets"}, []string{"get", "list"}), ""},
		{"creating secrets of another API group is harmless", cluster, policyRule([]string{"example.com"}, []string{"secrets"}, []string{"create"}), ""},
	}
	policies := make([]string, len(cases))
	refs := make([]accessv1alpha1.RoleRef, len(cases))
	for i, tc := range cases {
		refs[i] = createRole(t, tc.kind, ns, fmt.Sprintf("%s-role-%d", ns, i), tc.rule)
		policies[i] = fmt.Sprintf("%s-%d", ns, i)
		createPolicy(t, riskPolicy(policies[i], ns, refs[i]))
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.why == "" {
				c := waitPolicy(t, policies[i], metav1.ConditionTrue, accessv1alpha1.ReasonPolicyReady)
				if strings.Contains(c.Message, "persistence") {
					t.Errorf("Ready message = %q, want no persistence risk", c.Message)
				}
				return
			}
			c := waitPolicy(t, policies[i], metav1.ConditionFalse, accessv1alpha1.ReasonEntitlementAllowsPersistence)
			role := refs[i].String()
			if tc.kind == accessv1alpha1.RoleKindRole {
				role += " in namespace " + ns
			}
			rule := fmt.Sprintf(`rule {apiGroups: [%q], resources: [%q], verbs: [%q]} %s`,
				tc.rule.APIGroups[0], tc.rule.Resources[0], tc.rule.Verbs[0], tc.why)
			wantInMessage(t, c, "spec.entitlements[0]: "+role+": "+rule, persistenceFix)
		})
	}
}

// A ClusterRole with an aggregationRule is judged by the rules of the
// ClusterRoles it aggregates (envtest runs no aggregation controller, so
// the parent's own rules stay empty): a risky child flips the policy, and
// removing it makes the policy Ready again.
func TestAggregatedClusterRoleIsFlaggedThroughItsChildren(t *testing.T) {
	utils.RequireEnvtest(t)
	ns := riskNamespace(t)
	label := map[string]string{"rolegate.dev/test-aggregate-to": ns}
	parent := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-aggregated"},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: label}}}}
	must(t, k8s.Create(t.Context(), parent))
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), parent) })
	harmless := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-child-view", Labels: label},
		Rules: []rbacv1.PolicyRule{policyRule(coreAPI, []string{"pods"}, []string{"get", "list"})}}
	must(t, k8s.Create(t.Context(), harmless))
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), harmless) })
	name := ns + "-policy"
	createPolicy(t, riskPolicy(name, ns, accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: parent.Name}))
	waitPolicy(t, name, metav1.ConditionTrue, accessv1alpha1.ReasonPolicyReady)

	risky := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-child-bind", Labels: label},
		Rules: []rbacv1.PolicyRule{policyRule(rbacAPI, []string{"clusterroles"}, []string{"bind"})}}
	must(t, k8s.Create(t.Context(), risky))
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), risky) })
	c := waitPolicy(t, name, metav1.ConditionFalse, accessv1alpha1.ReasonEntitlementAllowsPersistence)
	wantInMessage(t, c, "spec.entitlements[0]: ClusterRole/"+parent.Name+": rule {apiGroups: [\"rbac.authorization.k8s.io\"], "+
		"resources: [\"clusterroles\"], verbs: [\"bind\"]} has the bind verb", persistenceFix)
	if strings.Contains(c.Message, "pods") {
		t.Errorf("Ready message = %q, want only the risky child's rule", c.Message)
	}

	must(t, k8s.Delete(t.Context(), risky))
	waitPolicy(t, name, metav1.ConditionTrue, accessv1alpha1.ReasonPolicyReady)
}

// An accepted risk keeps the policy Ready, and says so.
func TestAcceptedPersistenceRiskIsReadyAndVisible(t *testing.T) {
	utils.RequireEnvtest(t)
	ns := riskNamespace(t)
	ref := createRole(t, accessv1alpha1.RoleKindClusterRole, ns, ns+"-secret-writer",
		policyRule(coreAPI, []string{"secrets"}, []string{"create"}))
	p := riskPolicy(ns+"-policy", ns, ref)
	p.Spec.Entitlements[0].AllowPersistenceRisk = true
	p.Spec.Entitlements[0].PersistenceRiskReason = "the backup operator writes its own Secrets; reviewed in SEC-42"
	createPolicy(t, p)
	c := waitPolicy(t, p.Name, metav1.ConditionTrue, accessv1alpha1.ReasonPolicyReady)
	wantInMessage(t, c, "accepts persistence risk of "+ref.String()+": the backup operator writes its own Secrets; reviewed in SEC-42")

	// Without a reason the API server refuses the acceptance.
	bad := riskPolicy(ns+"-no-reason", ns, ref)
	bad.Spec.Entitlements[0].AllowPersistenceRisk = true
	if err := k8s.Create(t.Context(), bad); err == nil || !strings.Contains(err.Error(), "persistenceRiskReason is required") {
		_ = k8s.Delete(context.Background(), bad)
		t.Errorf("create without persistenceRiskReason: err = %v, want it refused", err)
	}
}

// A role that gains a risky rule while granted: the policy turns
// Ready=False, the grant is revoked (Granted=False/PolicyChanged, its
// RoleBinding deleted), and a new
// request for the role is refused. Accepting the risk lets requests in again.
func TestRoleGainingARiskyRuleRevokesItsGrant(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	waitPolicy(t, w.policy, metav1.ConditionTrue, accessv1alpha1.ReasonPolicyReady)
	w.request(t, "edit-config", forRole(accessv1alpha1.RoleKindRole, "config-editor"), tagged("sensitivity", "medium"))
	w.waitReady(t, "edit-config", accessv1alpha1.ReasonPendingApproval)
	w.decide(t, "edit-config", "bob", owners, accessv1alpha1.DecisionApprove)
	w.waitReady(t, "edit-config", accessv1alpha1.ReasonGranted)
	if n := len(w.bindings(t, "edit-config")); n != 1 {
		t.Fatalf("%d bindings for the granted request, want 1", n)
	}

	role := &rbacv1.Role{}
	must(t, k8s.Get(t.Context(), client.ObjectKey{Namespace: w.ns, Name: "config-editor"}, role))
	role.Rules = append(role.Rules, policyRule(coreAPI, []string{"secrets"}, []string{"create"}))
	must(t, k8s.Update(t.Context(), role))

	c := waitPolicy(t, w.policy, metav1.ConditionFalse, accessv1alpha1.ReasonEntitlementAllowsPersistence)
	wantInMessage(t, c, "spec.entitlements[2]: Role/config-editor in namespace "+w.ns+
		`: rule {apiGroups: [""], resources: ["secrets"], verbs: ["create"]} can create Secrets`, persistenceFix)
	// Ready summarises the end of access as Revoked; Granted says why.
	r := w.waitReady(t, "edit-config", accessv1alpha1.ReasonRevoked)
	if g := condition(t, r, accessv1alpha1.ConditionGranted); g.Status != metav1.ConditionFalse ||
		g.Reason != accessv1alpha1.ReasonPolicyChanged || !strings.Contains(g.Message, "can create Secrets") {
		t.Errorf("Granted = %+v, want False/PolicyChanged naming the risky rule", g)
	}
	w.waitNoBindings(t, "edit-config")

	w.request(t, "edit-config-again", forRole(accessv1alpha1.RoleKindRole, "config-editor"), tagged("sensitivity", "medium"))
	r = w.waitReady(t, "edit-config-again", accessv1alpha1.ReasonInvalid)
	v := condition(t, r, accessv1alpha1.ConditionValidated)
	if v.Status != metav1.ConditionFalse || v.Reason != accessv1alpha1.ReasonEntitlementAllowsPersistence ||
		!strings.Contains(v.Message, "spec.roleRef: Role/config-editor") || !strings.Contains(v.Message, "can create Secrets") {
		t.Errorf("Validated = %+v, want False/EntitlementAllowsPersistence naming the role and the rule", v)
	}
	if n := len(w.bindings(t, "edit-config-again")); n != 0 {
		t.Errorf("%d bindings for the refused request", n)
	}

	// The policy owner accepts the risk: the policy is Ready again and says
	// so, and the refused request becomes valid (it now waits for approval).
	p := &accessv1alpha1.ApprovalPolicy{}
	must(t, k8s.Get(t.Context(), client.ObjectKey{Name: w.policy}, p))
	p.Spec.Entitlements[2].AllowPersistenceRisk = true
	p.Spec.Entitlements[2].PersistenceRiskReason = "config jobs write their own Secrets"
	must(t, k8s.Update(t.Context(), p))
	c = waitPolicy(t, w.policy, metav1.ConditionTrue, accessv1alpha1.ReasonPolicyReady)
	wantInMessage(t, c, "accepts persistence risk of Role/config-editor in namespace "+w.ns+": config jobs write their own Secrets")
	w.waitReady(t, "edit-config-again", accessv1alpha1.ReasonPendingApproval)
}

// A Role is analysed in every governed namespace where it exists; the
// namespaces where it has the same risks are named together, and a
// namespace where it is harmless is not named.
func TestRiskyRoleIsNamedWithItsNamespaces(t *testing.T) {
	utils.RequireEnvtest(t)
	group := riskNamespace(t)
	var namespaces []string
	for i := range 3 {
		ns := fmt.Sprintf("%s-%c", group, 'a'+i)
		must(t, k8s.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"risk": group}}}))
		namespaces = append(namespaces, ns)
	}
	risky := policyRule(rbacAPI, []string{"rolebindings"}, []string{"create"})
	createRole(t, accessv1alpha1.RoleKindRole, namespaces[0], "deployer", risky)
	createRole(t, accessv1alpha1.RoleKindRole, namespaces[1], "deployer", policyRule(coreAPI, []string{"pods"}, []string{"get"}))
	ref := createRole(t, accessv1alpha1.RoleKindRole, namespaces[2], "deployer", risky)
	p := riskPolicy(group+"-policy", group, ref)
	createPolicy(t, p)
	c := waitPolicy(t, p.Name, metav1.ConditionFalse, accessv1alpha1.ReasonEntitlementAllowsPersistence)
	wantInMessage(t, c, fmt.Sprintf("spec.entitlements[0]: Role/deployer in namespaces %s, %s: rule", namespaces[0], namespaces[2]))
	if strings.Contains(c.Message, namespaces[1]) {
		t.Errorf("Ready message = %q, names %s, where the Role is harmless", c.Message, namespaces[1])
	}
}
