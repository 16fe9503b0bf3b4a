package report

import (
	"bytes"
	"strings"
	"testing"

	"rolegate.dev/rolegate/internal/inventory"
	"rolegate.dev/rolegate/internal/policy"
)

func TestStanding(t *testing.T) {
	rep := &inventory.Report{
		ServiceAccounts: []inventory.ServiceAccount{
			{Namespace: "ci", Name: "deployer", Severity: policy.SeverityHigh, Bindings: []inventory.Binding{
				{Kind: "ClusterRoleBinding", Name: "deployer-secrets", Severity: policy.SeverityHigh}}},
			{Namespace: "team-a", Name: "ghost", Severity: policy.SeverityLow, Bindings: []inventory.Binding{
				{Kind: "RoleBinding", Namespace: "team-a", Name: "ghost", Severity: policy.SeverityLow}}},
			{Namespace: "team-a", Name: "idle", Severity: policy.SeverityNone},
		},
		DanglingBindings: []inventory.DanglingBinding{{ServiceAccount: "team-a/ghost"}},
		Unreadable:       []inventory.Unreadable{{Resource: "secrets", Namespace: "team-b", Reason: "forbidden"}},
	}
	s := Standing(rep)
	if s.Bindings[policy.SeverityHigh] != 1 || s.Bindings[policy.SeverityLow] != 1 || s.ServiceAccounts[policy.SeverityNone] != 1 ||
		s.DanglingBindings != 1 || len(s.Unreadable) != 1 {
		t.Errorf("Standing = %+v", s)
	}
	var out bytes.Buffer
	if err := WriteStandingTable(&out, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"STANDING SERVICE-ACCOUNT ACCESS", "high       1          1", "DANGLING: 1 binding(s)",
		"INCOMPLETE: could not read secrets in namespace team-b;"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("section lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	unread := Standing(&inventory.Report{Unreadable: []inventory.Unreadable{
		{Resource: "rolebindings", Namespace: "team-b", Reason: "rolebindings is forbidden: ..."},
		{Resource: "clusterroles", Reason: "clusterroles is forbidden: ..."}}})
	if err := WriteStandingTable(&out, unread); err != nil {
		t.Fatal(err)
	}
	want := "\nSTANDING SERVICE-ACCOUNT ACCESS: not shown; you may not read rolebindings in namespace team-b, clusterroles cluster-wide " +
		"(`kubectl rolegate inventory` with those permissions lists it)\n"
	if out.String() != want {
		t.Errorf("nothing read: printed %q, want %q", out.String(), want)
	}
	out.Reset()
	if err := WriteStandingTable(&out, Standing(&inventory.Report{})); err != nil || out.Len() != 0 {
		t.Errorf("nothing standing and everything read: printed %q, %v; want nothing", out.String(), err)
	}
}
