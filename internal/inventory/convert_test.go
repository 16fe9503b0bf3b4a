package inventory

import (
	"bytes"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

var owners = []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "platform-owners"}}

func convertOpts() ConvertOptions {
	return ConvertOptions{Approvers: owners, Duration: time.Hour, MaxDuration: 8 * time.Hour}
}

func TestConvert(t *testing.T) {
	in := fixture()
	in.ClusterRoles = append(in.ClusterRoles, clusterRole("ops", nil,
		rule("", "configmaps", "*"),
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets", "pods"}, Verbs: []string{"get", "create"}},
		rule(rbacv1.GroupName, "roles", "bind"),
		rule("", "*", "get"),
	))
	in.RoleBindings = append(in.RoleBindings, roleBinding("team-b", "builder-ops", "ClusterRole", "ops", saSubject("team-a", "builder")))
	builder := find(t, build(t, in, Options{}), "team-a", "builder")

	conv, err := Convert(&builder, builder.Bindings, convertOpts())
	if err != nil {
		t.Fatal(err)
	}
	p := conv.Policy
	if p.Name != "standing-team-a-builder" || len(p.Spec.Approvers) != 1 || p.Spec.Approvers[0].Subjects[0].Name != "platform-owners" {
		t.Errorf("policy = %+v", p)
	}
	// builder-exec (Role exec) and builder-ops (ClusterRole ops, risky, so
	// narrowed); the group bindings are left alone.
	if len(conv.Requests) != 2 || len(p.Spec.Entitlements) != 2 {
		t.Fatalf("requests %d, entitlements %+v; want 2 of each", len(conv.Requests), p.Spec.Entitlements)
	}
	if got := p.Spec.NamespaceSelector.MatchExpressions[0].Values; strings.Join(got, ",") != "team-a,team-b" {
		t.Errorf("namespaceSelector values = %v", got)
	}
	if len(p.Spec.ServiceAccountNamespaces) != 1 || p.Spec.ServiceAccountNamespaces[0] != "team-a" {
		t.Errorf("serviceAccountNamespaces = %v, want team-a for the request in team-b", p.Spec.ServiceAccountNamespaces)
	}
	var ops *accessv1alpha1.AccessRequest
	for _, r := range conv.Requests {
		if r.Namespace == "team-b" {
			ops = r
		}
	}
	if ops == nil || ops.Spec.RoleRef != (accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "ops-jit"}) ||
		ops.Spec.ServiceAccount.Namespace != "team-a" || ops.Spec.Policy != p.Name || ops.Spec.Duration.Duration != time.Hour {
		t.Fatalf("request for the risky role = %+v", ops)
	}
	if len(conv.Roles) != 1 {
		t.Fatalf("roles = %v, want the narrowed ops", conv.Roles)
	}
	narrow := conv.Roles[0]
	if risks := policy.PersistenceRisks(narrow.Rules); len(risks) != 0 {
		t.Errorf("the narrowed role still has risks: %v", risks)
	}
	want := []rbacv1.PolicyRule{
		rule("", "configmaps", "get", "list", "watch"),
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "create"}},
	}
	if got, w := ruleStrings(narrow.Rules), ruleStrings(want); got != w {
		t.Errorf("narrowed rules =\n  %s\nwant\n  %s", got, w)
	}
	var out bytes.Buffer
	if err := conv.WriteYAML(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# NOTE: RoleBinding team-a/team-workloads applies through Group", "kind: ApprovalPolicy",
		"kind: Role\n", "kind: AccessRequest", "name: ops-jit"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("YAML lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "status:") || strings.Contains(out.String(), "creationTimestamp") {
		t.Errorf("YAML carries status or creationTimestamp:\n%s", out.String())
	}
}

func ruleStrings(rules []rbacv1.PolicyRule) string {
	var parts []string
	for _, r := range rules {
		parts = append(parts, strings.Join(r.APIGroups, ",")+"|"+strings.Join(r.Resources, ",")+"|"+strings.Join(r.Verbs, ","))
	}
	return strings.Join(parts, " ; ")
}

func TestConvertClusterRoleBindingAndErrors(t *testing.T) {
	deployer := find(t, build(t, fixture(), Options{}), "ci", "deployer")
	var direct []Binding
	for _, b := range deployer.Bindings {
		if b.Via == rbacv1.ServiceAccountKind {
			direct = append(direct, b)
		}
	}
	conv, err := Convert(&deployer, direct, convertOpts())
	if err != nil {
		t.Fatal(err)
	}
	if len(conv.Requests) != 1 || conv.Requests[0].Namespace != "ci" || len(conv.Notes) != 1 ||
		!strings.Contains(conv.Notes[0], "in ci only") {
		t.Errorf("ClusterRoleBinding conversion = %+v, notes %q", conv.Requests, conv.Notes)
	}
	if e := conv.Policy.Spec.Entitlements[0]; e.Sensitivity != accessv1alpha1.SensitivityHigh {
		t.Errorf("entitlement sensitivity = %s, want high (the binding's severity)", e.Sensitivity)
	}

	o := convertOpts()
	o.Approvers = nil
	if _, err := Convert(&deployer, direct, o); err == nil || !strings.Contains(err.Error(), "--approver") {
		t.Errorf("without approvers: err = %v, want it to name --approver", err)
	}
	o = convertOpts()
	o.Duration = 9 * time.Hour
	if _, err := Convert(&deployer, direct, o); err == nil || !strings.Contains(err.Error(), "maxDuration") {
		t.Errorf("duration above maxDuration: err = %v", err)
	}
	idle := find(t, build(t, fixture(), Options{}), "team-a", "idle")
	if _, err := Convert(&idle, idle.Bindings, convertOpts()); err == nil || !strings.Contains(err.Error(), "no binding of its own") {
		t.Errorf("an account bound only through groups: err = %v", err)
	}
}
