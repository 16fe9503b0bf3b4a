package inventory

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

func sa(ns, name string) corev1.ServiceAccount {
	return corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func rule(group, resource string, verbs ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, Verbs: verbs}
}

func role(ns, name string, rules ...rbacv1.PolicyRule) rbacv1.Role {
	return rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
}

func clusterRole(name string, lbls map[string]string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
	return rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}, Rules: rules}
}

func saSubject(ns, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}
}

func group(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

func roleBinding(ns, name, kind, roleName string, subjects ...rbacv1.Subject) rbacv1.RoleBinding {
	return rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: roleName}, Subjects: subjects}
}

func clusterRoleBinding(name, roleName string, subjects ...rbacv1.Subject) rbacv1.ClusterRoleBinding {
	return rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName}, Subjects: subjects}
}

func runningPod(ns, name, serviceAccount string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{ServiceAccountName: serviceAccount}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
}

// fixture is a small cluster: team-a's builder execs into pods through a
// Role; ci/deployer reads Secrets cluster-wide through an aggregated
// ClusterRole; every service account of team-a may create workloads
// through a group binding; everyone authenticated may read nodes; team-b's
// bot is bound by its user name; team-a/ghost does not exist.
func fixture() *Input {
	aggregated := clusterRole("secrets-aggregate", nil)
	aggregated.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
		{MatchLabels: map[string]string{"aggregate-to-secrets": "true"}}}}
	return &Input{
		ServiceAccounts: []corev1.ServiceAccount{sa("team-a", "builder"), sa("team-a", "idle"), sa("ci", "deployer"), sa("team-b", "bot")},
		Roles:           []rbacv1.Role{role("team-a", "exec", rule("", "pods/exec", "create"))},
		ClusterRoles: []rbacv1.ClusterRole{
			aggregated,
			clusterRole("secrets-child", map[string]string{"aggregate-to-secrets": "true"}, rule("", "secrets", "get", "list")),
			clusterRole("workloads", nil, rule("apps", "deployments", "create")),
			clusterRole("node-reader", nil, rule("", "nodes", "get")),
			clusterRole("rbac-writer", nil, rule(rbacv1.GroupName, "rolebindings", "create")),
		},
		RoleBindings: []rbacv1.RoleBinding{
			roleBinding("team-a", "builder-exec", "Role", "exec", saSubject("team-a", "builder")),
			roleBinding("team-a", "team-workloads", "ClusterRole", "workloads", group("system:serviceaccounts:team-a")),
			roleBinding("team-a", "ghost-rbac", "ClusterRole", "rbac-writer", saSubject("team-a", "ghost")),
			roleBinding("team-b", "bot-workloads", "ClusterRole", "workloads",
				rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "system:serviceaccount:team-b:bot"}),
		},
		ClusterRoleBindings: []rbacv1.ClusterRoleBinding{
			clusterRoleBinding("deployer-secrets", "secrets-aggregate", saSubject("ci", "deployer")),
			clusterRoleBinding("everyone-nodes", "node-reader", group("system:authenticated")),
		},
		Pods: []corev1.Pod{runningPod("team-a", "build-1", "builder"), runningPod("ci", "deploy-1", "deployer")},
	}
}

func find(t *testing.T, r *Report, ns, name string) ServiceAccount {
	t.Helper()
	for _, a := range r.ServiceAccounts {
		if a.Namespace == ns && a.Name == name {
			return a
		}
	}
	t.Fatalf("service account %s/%s not in the inventory: %+v", ns, name, r.ServiceAccounts)
	return ServiceAccount{}
}

func bindingNames(a ServiceAccount) []string {
	var out []string
	for _, b := range a.Bindings {
		out = append(out, b.BindingKey()+" via "+b.Via)
	}
	return out
}

func build(t *testing.T, in *Input, opts Options) *Report {
	t.Helper()
	r, err := Build(in, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBuild(t *testing.T) {
	r := build(t, fixture(), Options{})
	cases := []struct {
		name, ns, sa string
		exists       *bool
		bindings     []string
		caps         []policy.Capability
		severity     policy.Severity
	}{
		{"a Role binding to an exposed account", "team-a", "builder", ptr(true),
			[]string{"ClusterRoleBinding everyone-nodes via Group system:authenticated", "RoleBinding team-a/builder-exec via ServiceAccount",
				"RoleBinding team-a/team-workloads via Group system:serviceaccounts:team-a"},
			[]policy.Capability{policy.CapPodExec, policy.CapWorkloadCreate}, policy.SeverityMedium},
		{"an unexposed account only groups bind", "team-a", "idle", ptr(true),
			[]string{"ClusterRoleBinding everyone-nodes via Group system:authenticated",
				"RoleBinding team-a/team-workloads via Group system:serviceaccounts:team-a"},
			[]policy.Capability{policy.CapWorkloadCreate}, policy.SeverityLow},
		{"an aggregated ClusterRole is expanded", "ci", "deployer", ptr(true),
			[]string{"ClusterRoleBinding deployer-secrets via ServiceAccount", "ClusterRoleBinding everyone-nodes via Group system:authenticated"},
			[]policy.Capability{policy.CapSecretRead}, policy.SeverityHigh},
		{"a binding to the account's user name applies", "team-b", "bot", ptr(true),
			[]string{"ClusterRoleBinding everyone-nodes via Group system:authenticated",
				"RoleBinding team-b/bot-workloads via User system:serviceaccount:team-b:bot"},
			[]policy.Capability{policy.CapWorkloadCreate}, policy.SeverityLow},
		{"a binding to a missing account", "team-a", "ghost", ptr(false),
			[]string{"RoleBinding team-a/ghost-rbac via ServiceAccount"},
			[]policy.Capability{policy.CapRBACWrite}, policy.SeverityMedium},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := find(t, r, tc.ns, tc.sa)
			if (a.Exists == nil) != (tc.exists == nil) || (a.Exists != nil && *a.Exists != *tc.exists) {
				t.Errorf("exists = %v, want %v", a.Exists, *tc.exists)
			}
			if got := bindingNames(a); !slices.Equal(got, tc.bindings) {
				t.Errorf("bindings =\n  %q\nwant\n  %q", got, tc.bindings)
			}
			if !slices.Equal(a.Capabilities, tc.caps) {
				t.Errorf("capabilities = %v, want %v", a.Capabilities, tc.caps)
			}
			if a.Severity != tc.severity {
				t.Errorf("severity = %s, want %s", a.Severity, tc.severity)
			}
		})
	}
	if got := r.ServiceAccounts[0]; got.Namespace != "ci" || got.Name != "deployer" {
		t.Errorf("first service account = %s/%s, want the most severe, ci/deployer", got.Namespace, got.Name)
	}
	if len(r.DanglingBindings) != 1 || r.DanglingBindings[0].ServiceAccount != "team-a/ghost" ||
		r.DanglingBindings[0].Name != "ghost-rbac" {
		t.Errorf("danglingBindings = %+v, want team-a/ghost-rbac", r.DanglingBindings)
	}
	if len(r.Unreadable) != 0 {
		t.Errorf("unreadable = %v, want none", r.Unreadable)
	}
	// The source binding of each rule: the aggregated rule is held by the
	// binding that grants the aggregating ClusterRole.
	deployer := find(t, r, "ci", "deployer")
	if rules := deployer.Bindings[0].Rules; len(rules) != 1 || rules[0].Resources[0] != "secrets" {
		t.Errorf("rules of deployer-secrets = %v, want the aggregated Secret rule", rules)
	}
}

func TestBuildNamespace(t *testing.T) {
	r := build(t, fixture(), Options{Namespace: "team-b"})
	if len(r.ServiceAccounts) != 1 || r.ServiceAccounts[0].Name != "bot" {
		t.Fatalf("service accounts of team-b = %+v, want only bot", r.ServiceAccounts)
	}
	if len(r.DanglingBindings) != 0 {
		t.Errorf("danglingBindings in team-b = %+v, want none", r.DanglingBindings)
	}
}

// A RoleBinding in another namespace that names a service account of the
// namespace asked for is part of that account's standing access.
func TestBuildNamespaceSeesBindingsFromOtherNamespaces(t *testing.T) {
	in := fixture()
	in.RoleBindings = append(in.RoleBindings, roleBinding("team-a", "bot-exec-in-team-a", "Role", "exec", saSubject("team-b", "bot")))
	bot := find(t, build(t, in, Options{Namespace: "team-b"}), "team-b", "bot")
	got := strings.Join(bindingNames(bot), "; ")
	if !strings.Contains(got, "RoleBinding team-a/bot-exec-in-team-a") {
		t.Errorf("bot's bindings = %s, want the RoleBinding in team-a that names it", got)
	}
	if strings.Contains(got, "team-workloads") {
		t.Errorf("bot's bindings = %s: team-a's group binding does not apply to team-b", got)
	}
	if !slices.Contains(bot.Capabilities, policy.CapPodExec) {
		t.Errorf("bot's capabilities = %v, want %s from the Role in team-a", bot.Capabilities, policy.CapPodExec)
	}
}

func TestBuildRolegateGrantsOnlyWithIncludeRolegate(t *testing.T) {
	in := fixture()
	grant := roleBinding("team-b", "rolegate-grant", "ClusterRole", "rbac-writer", saSubject("team-b", "bot"))
	grant.Labels = map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue}
	in.RoleBindings = append(in.RoleBindings, grant)

	bot := find(t, build(t, in, Options{}), "team-b", "bot")
	if slices.Contains(bot.Capabilities, policy.CapRBACWrite) {
		t.Errorf("capabilities = %v: rolegate's time-bound grant counted as standing access", bot.Capabilities)
	}
	bot = find(t, build(t, in, Options{IncludeRolegate: true}), "team-b", "bot")
	if !slices.Contains(bot.Capabilities, policy.CapRBACWrite) || !slices.ContainsFunc(bot.Bindings, func(b Binding) bool {
		return b.Name == "rolegate-grant" && b.Provenance == ProvenanceRolegate
	}) {
		t.Errorf("with IncludeRolegate: %+v, want the rolegate grant", bot)
	}
}

func TestBuildExposure(t *testing.T) {
	token := metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "idle-token",
		Annotations: map[string]string{corev1.ServiceAccountNameKey: "idle"}}}
	in := fixture()
	in.Secrets = []metav1.PartialObjectMetadata{token}
	in.Pods = append(in.Pods, runningPod("team-b", "done", "bot"))
	in.Pods[len(in.Pods)-1].Status.Phase = corev1.PodSucceeded
	r := build(t, in, Options{})
	if a := find(t, r, "team-a", "idle"); a.Exposure != ExposureTokenSecret || a.Severity != policy.SeverityMedium {
		t.Errorf("idle with a legacy token Secret: exposure %s, severity %s; want token-secret, medium", a.Exposure, a.Severity)
	}
	if a := find(t, r, "team-b", "bot"); a.Exposure != ExposureNone {
		t.Errorf("bot whose only pod has succeeded: exposure %s, want none", a.Exposure)
	}
	off := false
	in.Pods[0].Spec.AutomountServiceAccountToken = &off
	if a := find(t, build(t, in, Options{}), "team-a", "builder"); a.Exposure != ExposureNone {
		t.Errorf("builder whose pod does not mount its token: exposure %s, want none", a.Exposure)
	}
}

func TestBuildUnreadable(t *testing.T) {
	in := fixture()
	in.ClusterRoles = nil
	in.Pods = nil
	in.Unreadable = []Unreadable{
		{Resource: ResourceClusterRoles, Reason: "forbidden"},
		{Resource: ResourcePods, Namespace: "team-b", Reason: "forbidden"},
		{Resource: ResourceServiceAccounts, Namespace: "team-a", Reason: "forbidden"},
	}
	in.ServiceAccounts = []corev1.ServiceAccount{sa("ci", "deployer"), sa("team-b", "bot")}
	r := build(t, in, Options{})
	if len(r.Unreadable) != 3 {
		t.Errorf("unreadable = %v, want the three given", r.Unreadable)
	}
	deployer := find(t, r, "ci", "deployer")
	if deployer.Bindings[0].Rules != nil || deployer.Bindings[0].RoleMissing {
		t.Errorf("a binding whose ClusterRole could not be read: rules %v, roleMissing %v; want null rules, not missing",
			deployer.Bindings[0].Rules, deployer.Bindings[0].RoleMissing)
	}
	if a := find(t, r, "team-b", "bot"); a.Exposure != ExposureUnknown {
		t.Errorf("bot whose pods could not be read: exposure %s, want unknown", a.Exposure)
	}
	ghost := find(t, r, "team-a", "ghost")
	if ghost.Exists != nil {
		t.Errorf("ghost in a namespace whose service accounts could not be read: exists = %v, want unknown", *ghost.Exists)
	}
	if len(r.DanglingBindings) != 0 {
		t.Errorf("danglingBindings = %+v: a binding is not dangling when its account could not be looked up", r.DanglingBindings)
	}
	// A Role that is readable but absent is missing, not unknown.
	in = fixture()
	in.Roles = nil
	builder := find(t, build(t, in, Options{}), "team-a", "builder")
	i := slices.IndexFunc(builder.Bindings, func(b Binding) bool { return b.Name == "builder-exec" })
	if !builder.Bindings[i].RoleMissing || builder.Bindings[i].Rules == nil {
		t.Errorf("binding to a missing Role = %+v, want roleMissing with no rules", builder.Bindings[i])
	}
}

func TestBuildJSONShape(t *testing.T) {
	r := build(t, fixture(), Options{Namespace: "team-b"})
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"serviceAccounts", "danglingBindings", "unreadable"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, raw)
		}
	}
	a := doc["serviceAccounts"].([]any)[0].(map[string]any)
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if got := strings.Join(keys, ","); got != "bindings,capabilities,exists,name,namespace,severity" {
		t.Errorf("service account keys = %s", got)
	}
	b := a["bindings"].([]any)[0].(map[string]any)
	for _, k := range []string{"kind", "name", "roleRef", "provenance"} {
		if _, ok := b[k]; !ok {
			t.Errorf("binding lacks %q: %v", k, b)
		}
	}
	if ref := b["roleRef"].(map[string]any); ref["kind"] != "ClusterRole" || ref["name"] != "node-reader" {
		t.Errorf("roleRef = %v", ref)
	}
}

func TestDetect(t *testing.T) {
	meta := func(name string, labels, annotations map[string]string, managers ...string) *metav1.ObjectMeta {
		m := &metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations}
		for _, mgr := range managers {
			m.ManagedFields = append(m.ManagedFields, metav1.ManagedFieldsEntry{Manager: mgr})
		}
		return m
	}
	cases := []struct {
		name string
		meta *metav1.ObjectMeta
		want Provenance
	}{
		{"rolegate's grant", meta("x", map[string]string{"app.kubernetes.io/managed-by": "rolegate"}, nil), ProvenanceRolegate},
		{"the bootstrap label", meta("cluster-admin", map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}, nil), ProvenanceBootstrap},
		{"a system: name", meta("system:controller:job-controller", nil, nil), ProvenanceBootstrap},
		{"Helm's managed-by label", meta("x", map[string]string{"app.kubernetes.io/managed-by": "Helm"}, nil), ProvenanceHelm},
		{"Helm's release annotation", meta("x", nil, map[string]string{"meta.helm.sh/release-name": "app"}), ProvenanceHelm},
		{"Argo CD's tracking annotation", meta("x", nil, map[string]string{"argocd.argoproj.io/tracking-id": "app:rbac/x"}), ProvenanceArgoCD},
		{"Argo CD rendering a Helm chart", meta("x", map[string]string{"app.kubernetes.io/managed-by": "Helm"},
			map[string]string{"argocd.argoproj.io/tracking-id": "app:rbac/x"}), ProvenanceArgoCD},
		{"Argo CD's instance label", meta("x", map[string]string{"app.kubernetes.io/instance": "app"}, nil), ProvenanceArgoCD},
		{"a Helm chart's instance label is Helm's", meta("x", map[string]string{"app.kubernetes.io/instance": "app",
			"app.kubernetes.io/managed-by": "Helm"}, nil), ProvenanceHelm},
		{"Flux kustomization", meta("x", map[string]string{"kustomize.toolkit.fluxcd.io/name": "apps"}, nil), ProvenanceFlux},
		{"Flux HelmRelease", meta("x", map[string]string{"helm.toolkit.fluxcd.io/name": "app", "app.kubernetes.io/managed-by": "Helm"}, nil), ProvenanceFlux},
		{"Argo CD's field manager", meta("x", nil, nil, "argocd-controller"), ProvenanceArgoCD},
		{"Flux's field manager", meta("x", nil, nil, "kustomize-controller"), ProvenanceFlux},
		{"Helm's field manager", meta("x", nil, nil, "helm"), ProvenanceHelm},
		{"kubectl is manual", meta("x", map[string]string{"team": "a"}, nil, "kubectl-client-side-apply"), ProvenanceManual},
		{"nothing is manual", meta("x", nil, nil), ProvenanceManual},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect(tc.meta); got != tc.want {
				t.Errorf("Detect = %s, want %s", got, tc.want)
			}
		})
	}
}
