package v1alpha1_test

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/test/utils"
)

// changeTicket requires a change ticket of the CHG-n form from sensitivity
// critical up, with a link to the ticket system: the team's usual (high)
// request needs none.
func changeTicket(p *accessv1alpha1.ApprovalPolicy) {
	p.Spec.RequiredTags = append(p.Spec.RequiredTags, accessv1alpha1.RequiredTag{
		Key: "change", Pattern: `^CHG-[0-9]+$`, Link: "https://tickets.example/browse/{value}",
		MinSensitivity: accessv1alpha1.SensitivityCritical})
}

func TestTicketTagsAreCheckedAtAdmission(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t, changeTicket)
	alice := as(t, "alice", "payments-devs")

	t.Run("a high request needs no ticket", func(t *testing.T) {
		utils.Must(t, alice.Create(t.Context(), tm.requestObject("high"), client.DryRunAll))
	})
	t.Run("a critical request without the ticket is refused", func(t *testing.T) {
		r := tm.requestObject("no-ticket")
		r.Spec.Tags["sensitivity"] = "critical"
		refused(t, alice.Create(t.Context(), r, client.DryRunAll),
			"spec.tags.change: Required value",
			`required by ApprovalPolicy "`+tm.policy+`" from sensitivity critical up (this request is critical); `+
				"set a value matching ^CHG-[0-9]+$")
	})
	t.Run("a value not matching the pattern is refused naming the tag and the pattern", func(t *testing.T) {
		// Also below minSensitivity: a ticket given is a ticket checked.
		r := tm.requestObject("bad-ticket")
		r.Spec.Tags["change"] = "1234"
		refused(t, alice.Create(t.Context(), r, client.DryRunAll),
			`spec.tags.change: Forbidden: "1234" does not match the pattern ^CHG-[0-9]+$ required by ApprovalPolicy "`+tm.policy+`"`)
	})
	t.Run("a matching value is admitted", func(t *testing.T) {
		r := tm.requestObject("good-ticket")
		r.Spec.Tags["change"] = "CHG-1234"
		utils.Must(t, alice.Create(t.Context(), r, client.DryRunAll))
	})
}

func TestBrokenTicketTagsInAPolicyAreRefused(t *testing.T) {
	utils.RequireEnvtest(t)
	c, _ := asWarned(t, "platform-admin", "system:masters")
	p := &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "broken-tickets"},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "nobody"}},
			RequiredTags: []accessv1alpha1.RequiredTag{
				{Key: "change", Pattern: `^CHG-[0-9+$`, Link: "https://tickets.example/browse/"},
				{Key: "incident", Link: "ftp://pager.example/{value}"},
			},
			Entitlements: []accessv1alpha1.Entitlement{{
				RoleRef:     accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "view"},
				MaxDuration: metav1.Duration{Duration: 3600e9}, AutoApprove: true}},
		},
	}
	err := c.Create(t.Context(), p)
	if err == nil {
		t.Cleanup(func() { _ = admin.Delete(context.Background(), p) })
	}
	refused(t, err,
		`spec.requiredTags[0].pattern: Invalid value: "^CHG-[0-9+$" is not an RE2 regular expression (missing closing ]`,
		`spec.requiredTags[0].link: Invalid value: "https://tickets.example/browse/" does not contain {value}`,
		`spec.requiredTags[1].link: Invalid value: "ftp://pager.example/{value}" is not an http or https URL`)

	p.Spec.RequiredTags = []accessv1alpha1.RequiredTag{{Key: "change", Pattern: `^CHG-[0-9]+$`,
		Link: "https://tickets.example/browse/{value}"}}
	utils.Must(t, c.Create(t.Context(), p, client.DryRunAll))
}
