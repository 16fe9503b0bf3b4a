package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTheCommittedAPIReferenceIsCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	want, err := render(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/api.md is out of date with config/crd/bases; run `make docs`")
	}
}

func TestTheReferenceDocumentsEveryField(t *testing.T) {
	out, err := render(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## ApprovalPolicy", "## AccessRequest", "## AccessDecision",
		"| `serviceAccount.namespace` |", "| `entitlements[].maxDuration` |", "| `approvers[].escalateAfter` |",
		"| `requester.via` |", "| `decision` | string | yes |", "One of `Approve`, `Deny`, `Revoke`",
		"Rule: spec is immutable; create a new AccessRequest instead",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the reference lacks %q", want)
		}
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "| `") && strings.HasSuffix(line, "|  |") {
			t.Errorf("undocumented field: %s", line)
		}
	}
}
