package main

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestCatalogTable(t *testing.T) {
	out, errOut, err := runCLI(t, cliClient(&user{name: "carol", groups: []string{"payments-devs"}}, nil), "catalog")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	want := "ROLE               POLICY     MAX   SENSITIVITY   APPROVAL          BREAK-GLASS   APPROVERS\n" +
		"ClusterRole/edit   payments   2h    medium        tier app-owners   -             User alice, Group payments-owners,…\n" +
		"ClusterRole/view   payments   8h    low           auto-approved     -             -\n" +
		"Role/db-migrator   payments   1h    high          tier security     -             Group security-oncall\n" +
		"\nRequests under ApprovalPolicy payments need: --reason, --tag ticket=VALUE, --tag type=temporary|break-glass\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	for _, line := range strings.Split(out, "\n") {
		if len([]rune(line)) > 120 {
			t.Errorf("line wider than 120 columns: %q", line)
		}
	}
}

func TestCatalogWideShowsEveryApprover(t *testing.T) {
	out, errOut, err := runCLI(t, cliClient(&user{name: "carol", groups: []string{"payments-devs"}}, nil), "catalog", "-o", "wide")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(out, "User alice, Group payments-owners, Group security-oncall\n") {
		t.Errorf("wide output lacks the full approver list:\n%s", out)
	}
}

func TestCatalogYAML(t *testing.T) {
	out, errOut, err := runCLI(t, cliClient(&user{name: "carol", groups: []string{"payments-devs"}}, nil), "catalog", "-o", "yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	var got catalogOutput
	if err := yaml.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Namespace != "payments" || got.User != "carol" || len(got.Entries) != 3 {
		t.Fatalf("got %+v", got)
	}
	e := got.Entries[2]
	if e.RoleRef.Name != "db-migrator" || e.MaxDuration.Hours() != 1 || e.Tier != "security" ||
		len(e.RequiredTags) != 2 || !e.JustificationRequired {
		t.Errorf("db-migrator entry = %+v", e)
	}
}

func TestCatalogOutsiderSeesNothing(t *testing.T) {
	out, errOut, err := runCLI(t, cliClient(&user{name: "mallory"}, nil), "catalog")
	if err != nil || out != "" || errOut != "No ApprovalPolicy offers roles to mallory in namespace payments.\n" {
		t.Errorf("err %v stdout %q stderr %q", err, out, errOut)
	}
}

func TestCatalogUnknownUserSaysSo(t *testing.T) {
	out, errOut, err := runCLI(t, cliClient(nil, nil), "catalog")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "Note: could not tell who you are") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("stderr %q, want one note line", errOut)
	}
	if !strings.Contains(out, "Role/db-migrator") {
		t.Errorf("stdout lacks the catalog:\n%s", out)
	}
}

func TestCatalogRejectsUnknownFormat(t *testing.T) {
	_, _, err := runCLI(t, cliClient(nil, nil), "catalog", "-o", "xml")
	if err == nil || !strings.Contains(err.Error(), `unsupported output format "xml"`) {
		t.Errorf("err = %v", err)
	}
}
