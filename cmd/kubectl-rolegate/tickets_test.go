package main

import (
	"context"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/test/utils"
)

// ticketedClient is the CLI fixture whose policy links its ticket tag to the
// ticket system, for u.
func ticketedClient(u *user) client.WithWatch {
	objs := cliObjects()
	for _, o := range objs {
		if p, ok := o.(*accessv1alpha1.ApprovalPolicy); ok {
			p.Spec.RequiredTags[0].Pattern = `^CHG-[0-9]+$`
			p.Spec.RequiredTags[0].Link = "https://tickets.example/browse/{value}"
		}
	}
	return clusterClient(u, nil, nil, objs)
}

func TestPendingShowsTicketLinksUnderTheTable(t *testing.T) {
	// carol of security: her own request is not hers to decide.
	security := &user{name: "carol", groups: []string{"security-oncall"}}
	out, errOut, err := runCLI(t, ticketedClient(security), "pending")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	want := "NAME           REQUESTER   ROLE               SERVICEACCOUNT   TIER       AGE   ESCALATES-IN   JUSTIFICATION\n" +
		"edit-bob       bob         ClusterRole/edit   payments-api     security   2h    -              CHG-1\n" +
		"migrate-dave   dave        Role/db-migrator   payments-api     security   1h    -              CHG-1\n" +
		"Tickets:\n" +
		"  edit-bob       ticket=CHG-1   https://tickets.example/browse/CHG-1\n" +
		"  migrate-dave   ticket=CHG-1   https://tickets.example/browse/CHG-1\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}

	out, _, err = runCLI(t, ticketedClient(security), "pending", "-A")
	if err != nil || !strings.Contains(out, "  payments/edit-bob       ticket=CHG-1   https://tickets.example/browse/CHG-1\n") {
		t.Errorf("-A: err %v, stdout:\n%s", err, out)
	}
	_, links, _ := strings.Cut(out, "Tickets:\n")
	for _, line := range strings.Split(strings.TrimSuffix(links, "\n"), "\n") {
		if len(line) > 120 {
			t.Errorf("ticket line wider than 120 columns: %q", line)
		}
	}
}

func TestPendingWithoutLinksHasNoTicketSection(t *testing.T) {
	out, _, err := runCLI(t, cliClient(&user{name: "sam", groups: []string{"security-oncall"}}, nil), "pending")
	if err != nil || strings.Contains(out, "Tickets:") {
		t.Errorf("err %v, stdout:\n%s", err, out)
	}
}

func TestExplainShowsTicketLinks(t *testing.T) {
	out, _, err := runCLI(t, ticketedClient(dev), "explain", "edit-carol")
	if err != nil {
		t.Fatal(err)
	}
	want := "Policy:          payments\n" +
		"Tickets:         ticket=CHG-1 https://tickets.example/browse/CHG-1\n" +
		"Validation:      passed\n"
	if !strings.Contains(out, want) {
		t.Errorf("missing %q in\n%s", want, out)
	}
}

func TestCatalogAndRefusalsDescribeTheTicketPattern(t *testing.T) {
	objs := cliObjects()
	for _, o := range objs {
		if p, ok := o.(*accessv1alpha1.ApprovalPolicy); ok {
			p.Spec.RequiredTags[0].Pattern = `^CHG-[0-9]+$`
			p.Spec.RequiredTags[0].MinSensitivity = accessv1alpha1.SensitivityMedium
		}
	}
	out, errOut, err := runCLI(t, clusterClient(carol, nil, nil, objs), "catalog")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if want := "--tag ticket=VALUE (matching ^CHG-[0-9]+$, from sensitivity medium up)"; !strings.Contains(out, want) {
		t.Errorf("catalog lacks %q:\n%s", want, out)
	}

	_, errOut, err = runCLI(t, clusterClient(carol, nil, nil, objs), "request", "payments-api", "--role", "ClusterRole/edit",
		"--for", "1h", "--reason", "CHG-1", "--tag", "ticket=1234", "--tag", "type=temporary")
	for _, want := range []string{
		`spec.tags.ticket: "1234" does not match the pattern ^CHG-[0-9]+$ required by ApprovalPolicy "payments"`,
		"    ticket: a value matching ^CHG-[0-9]+$, required from sensitivity medium up\n",
	} {
		if err == nil || !strings.Contains(errOut, want) {
			t.Errorf("err %v; stderr lacks %q:\n%s", err, want, errOut)
		}
	}
}

// TestPersonasSeeTicketLinks: with only the shipped roles, the approver's
// pending and the requester's explain show the ticket links of a live
// policy, and nothing is forbidden.
func TestPersonasSeeTicketLinks(t *testing.T) {
	cfg, admin := personaCluster(t)
	p := &accessv1alpha1.ApprovalPolicy{}
	utils.Must(t, admin.Get(t.Context(), client.ObjectKey{Name: "payments"}, p))
	before := p.DeepCopy()
	p.Spec.RequiredTags[0].Pattern = `^CHG-[0-9]+$`
	p.Spec.RequiredTags[0].Link = "https://tickets.example/browse/{value}"
	utils.Must(t, admin.Patch(t.Context(), p, client.MergeFrom(before)))
	t.Cleanup(func() {
		restore := &accessv1alpha1.ApprovalPolicy{}
		if err := admin.Get(context.Background(), client.ObjectKey{Name: "payments"}, restore); err == nil {
			from := restore.DeepCopy()
			restore.Spec.RequiredTags = before.Spec.RequiredTags
			_ = admin.Patch(context.Background(), restore, client.MergeFrom(from))
		}
	})

	out, errOut, err := runAs(t, cfg, approverPersona, "pending")
	if err != nil || strings.Contains(out+errOut, "forbidden") ||
		!strings.Contains(out, "Tickets:\n  edit-carol   ticket=CHG-1   https://tickets.example/browse/CHG-1\n") {
		t.Errorf("approver's pending: err %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	out, errOut, err = runAs(t, cfg, requesterPersona, "explain", "edit-carol")
	if err != nil || strings.Contains(out+errOut, "forbidden") ||
		!strings.Contains(out, "Tickets:         ticket=CHG-1 https://tickets.example/browse/CHG-1\n") {
		t.Errorf("requester's explain: err %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
}
