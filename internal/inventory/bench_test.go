package inventory

import (
	"fmt"
	"testing"

	"rolegate.dev/rolegate/internal/policy"
)

// synthetic is a cluster of 10,000 RoleBindings over 1,000 namespaces, each
// with 10 service accounts, 10 pods and 2 Roles, plus 100 ClusterRoles and
// 200 ClusterRoleBindings, a few to groups.
func synthetic() *Input {
	in := &Input{}
	for c := range 100 {
		in.ClusterRoles = append(in.ClusterRoles, clusterRole(fmt.Sprintf("cr-%d", c), nil,
			rule("", "configmaps", "get"), rule("apps", "deployments", "create")))
	}
	for c := range 200 {
		crb := clusterRoleBinding(fmt.Sprintf("crb-%d", c), fmt.Sprintf("cr-%d", c%100), saSubject(fmt.Sprintf("ns-%d", c), "sa-0"))
		if c%50 == 0 {
			crb.Subjects = append(crb.Subjects, group("system:serviceaccounts:"+fmt.Sprintf("ns-%d", c)))
		}
		in.ClusterRoleBindings = append(in.ClusterRoleBindings, crb)
	}
	for n := range 1000 {
		ns := fmt.Sprintf("ns-%d", n)
		in.Roles = append(in.Roles, role(ns, "exec", rule("", "pods/exec", "create")), role(ns, "read", rule("", "secrets", "get")))
		for i := range 10 {
			name := fmt.Sprintf("sa-%d", i)
			in.ServiceAccounts = append(in.ServiceAccounts, sa(ns, name))
			in.Pods = append(in.Pods, runningPod(ns, fmt.Sprintf("pod-%d", i), name))
			kind, ref := "Role", []string{"exec", "read"}[i%2]
			if i%3 == 0 {
				kind, ref = "ClusterRole", fmt.Sprintf("cr-%d", (n+i)%100)
			}
			in.RoleBindings = append(in.RoleBindings, roleBinding(ns, fmt.Sprintf("rb-%d", i), kind, ref, saSubject(ns, name)))
		}
	}
	return in
}

func BenchmarkBuild10kBindings(b *testing.B) {
	in := synthetic()
	if len(in.RoleBindings) != 10000 {
		b.Fatalf("synthetic cluster has %d RoleBindings", len(in.RoleBindings))
	}
	b.ReportAllocs()
	for b.Loop() {
		rep, err := Build(in, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if n := rep.BindingsBySeverity(); n["medium"] == 0 {
			b.Fatalf("counts = %v", n)
		}
	}
}

// The counts the metric exports: each binding once, under its most severe
// account.
func TestBindingsBySeverity(t *testing.T) {
	got := build(t, fixture(), Options{}).BindingsBySeverity()
	// deployer-secrets high; builder-exec and team-workloads (worst for the
	// exposed builder) medium; ghost-rbac medium; bot-workloads low;
	// everyone-nodes none.
	want := map[string]int{"critical": 0, "high": 1, "medium": 3, "low": 1, "none": 1}
	for s, n := range want {
		if got[policy.Severity(s)] != n {
			t.Errorf("BindingsBySeverity = %v, want %v", got, want)
			break
		}
	}
}
