package main

import (
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func TestExplainPendingShowsTierApproversAndVerdicts(t *testing.T) {
	out, _, err := runCLI(t, cliClient(dev, nil), "explain", "edit-carol")
	if err != nil {
		t.Fatal(err)
	}
	want := `AccessRequest:   payments/edit-carol
Service account: payments/payments-api
Role:            ClusterRole/edit for 1h0m0s
Requester:       carol
Justification:   CHG-1
Tags:            ticket=CHG-1,type=temporary
Created:         10m ago
Ready:           False (PendingApproval): waiting for approval

Policy:          payments
Validation:      passed
Sensitivity:     medium
Outcome now:     Pending
Deciding tier:   app-owners (needs 1 approval(s), 0 counted)
Can approve:     User alice, Group payments-owners, Group security-oncall
Decisions:
  edit-carol-x1: Approve by mallory: not counted (NotEligible): mallory is not in the deciding tier or a later one; tier app-owners decides: ask one of User alice, Group payments-owners, Group security-oncall
Escalates:       to tier security in 20m
Times out:       in 2d23h
RoleBinding:     none
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestExplainEscalatedAndGranted(t *testing.T) {
	out, _, err := runCLI(t, cliClient(dev, nil), "explain", "edit-bob")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"Deciding tier:   security (needs 1 approval(s), 0 counted), escalated\n",
		"Can approve:     Group security-oncall\n",
		"Times out:       in 2d22h\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("edit-bob: missing %q in\n%s", w, out)
		}
	}

	out, _, err = runCLI(t, cliClient(dev, nil), "explain", "view-erin")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"Ready:           True (Granted): granted\n",
		"Deciding tier:   none: ClusterRole/view is auto-approved by ApprovalPolicy \"payments\"\n",
		"  Approve ApprovalPolicy/payments (tier -) at 2026-05-01T11:40:00Z: entitlement is auto-approved\n",
		"Expires:         in 40m (2026-05-01T12:40:00Z)\n",
		"RoleBinding:     payments/rolegate-view-erin\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("view-erin: missing %q in\n%s", w, out)
		}
	}
}

func TestExplainCountedApproval(t *testing.T) {
	c := cliClient(dev, nil, decision("edit-carol-ok", "edit-carol", "bob", accessv1alpha1.DecisionApprove, 2*time.Minute, "payments-owners"))
	out, _, err := runCLI(t, c, "explain", "edit-carol")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"Outcome now:     Grant\n",
		"  Approve bob (tier app-owners) at 2026-05-01T11:58:00Z\n",
		"  edit-carol-ok: Approve by bob: counted (Counted): approval counted for tier app-owners\n",
		"Expires:         in 1h (2026-05-01T13:00:00Z)\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in\n%s", w, out)
		}
	}
}

func TestExplainListsEveryFailedCheck(t *testing.T) {
	bad := cliRequest("bad", "frank", "edit", accessv1alpha1.RoleKindClusterRole, time.Minute)
	bad.Spec.Tags = map[string]string{"type": "forever"}
	bad.Spec.Duration.Duration = 5 * time.Hour
	bad.Status.Conditions = nil
	out, _, err := runCLI(t, cliClient(dev, nil, bad), "explain", "bad")
	if err != nil {
		t.Fatal(err)
	}
	want := "Ready:           unknown (the controller has not reported on this request yet)\n\n" +
		"Policy:          payments\n" +
		"Validation:      failed\n" +
		"  spec.duration: 5h0m0s exceeds the maxDuration 2h0m0s of ClusterRole/edit in ApprovalPolicy \"payments\"; ask for 2h0m0s or less (DurationTooLong)\n" +
		"  spec.tags.ticket: required by ApprovalPolicy \"payments\"; set any non-empty value (MissingTag)\n" +
		"  spec.tags.type: \"forever\" is not allowed by ApprovalPolicy \"payments\"; allowed: temporary, break-glass (TagValueNotAllowed)\n" +
		"Decisions:       none\n" +
		"RoleBinding:     none\n"
	if !strings.HasSuffix(out, want) {
		t.Errorf("got:\n%s\nwant it to end with:\n%s", out, want)
	}
}

func TestExplainUnknownRequest(t *testing.T) {
	_, _, err := runCLI(t, cliClient(dev, nil), "explain", "nope")
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `"nope" not found`) {
		t.Errorf("err = %v", err)
	}
}

// riskyEditClient is the CLI fixture with ClusterRole edit aggregating a
// ClusterRole that may create Secrets; accept sets allowPersistenceRisk on
// the edit entitlement.
func riskyEditClient(accept bool) client.Client {
	objs := cliObjects()
	for _, o := range objs {
		switch o := o.(type) {
		case *rbacv1.ClusterRole:
			if o.Name == "edit" {
				o.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
					{MatchLabels: map[string]string{"example.com/aggregate-to-edit": "true"}}}}
			}
		case *accessv1alpha1.ApprovalPolicy:
			if accept {
				o.Spec.Entitlements[1].AllowPersistenceRisk = true
				o.Spec.Entitlements[1].PersistenceRiskReason = "deploy tooling writes its own Secrets; SEC-12"
			}
		}
	}
	objs = append(objs, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "edit-secrets", Labels: map[string]string{"example.com/aggregate-to-edit": "true"}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create"}},
		}})
	return fakeCluster(objs...).Build()
}

const editSecretsRisk = `  rule {apiGroups: [""], resources: ["secrets"], verbs: ["get", "create"]} can create Secrets, including long-lived service account tokens` + "\n"

func TestExplainShowsAnUnacceptedPersistenceRisk(t *testing.T) {
	out, _, err := runCLI(t, riskyEditClient(false), "explain", "edit-carol")
	if err != nil {
		t.Fatal(err)
	}
	violation := "  spec.roleRef: ClusterRole/edit lets its holder outlive or widen a temporary grant ("
	risks := `Role risks:      ClusterRole/edit lets its holder outlive or widen a temporary grant; not accepted by ApprovalPolicy "payments", ` +
		`so the request is refused; to fix it, remove the rule, or set allowPersistenceRisk: true with ` +
		`persistenceRiskReason on the entitlement` + "\n" + editSecretsRisk
	for _, w := range []string{"Validation:      failed\n" + violation, "(EntitlementAllowsPersistence)\n" + risks + "Decisions:\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in\n%s", w, out)
		}
	}
	if strings.Contains(out, "configmaps") {
		t.Errorf("a harmless rule is listed as a risk:\n%s", out)
	}
}

func TestExplainListsAcceptedPersistenceRisks(t *testing.T) {
	out, _, err := runCLI(t, riskyEditClient(true), "explain", "edit-carol")
	if err != nil {
		t.Fatal(err)
	}
	want := "Validation:      passed\n" +
		`Role risks:      ClusterRole/edit lets its holder outlive or widen a temporary grant; accepted by ApprovalPolicy "payments": ` +
		"deploy tooling writes its own Secrets; SEC-12\n" + editSecretsRisk +
		"Sensitivity:     medium\n" +
		"Outcome now:     Pending\n"
	if !strings.Contains(out, want) {
		t.Errorf("missing\n%s\nin\n%s", want, out)
	}
}

func TestExplainSaysNothingOfRisksForAHarmlessRole(t *testing.T) {
	out, _, err := runCLI(t, cliClient(dev, nil), "explain", "edit-carol")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "Role risks:") {
		t.Errorf("a role without rules has risks:\n%s", out)
	}
}

func TestExplainShowsExtensionsAndScheduledStarts(t *testing.T) {
	objs := cliObjects()
	for _, o := range objs {
		if p, ok := o.(*accessv1alpha1.ApprovalPolicy); ok {
			p.Spec.MaxExtensions = 1
		}
	}
	// view is auto-approved: each extension is approved when created.
	more := cliRequest("view-erin-more", "erin", "view", accessv1alpha1.RoleKindClusterRole, 10*time.Minute)
	more.Spec.Extends, more.Spec.Duration = "view-erin", metav1.Duration{Duration: 30 * time.Minute}
	again := cliRequest("view-erin-again", "erin", "view", accessv1alpha1.RoleKindClusterRole, 5*time.Minute)
	again.Spec.Extends = "view-erin"
	later := cliRequest("view-later", "erin", "view", accessv1alpha1.RoleKindClusterRole, time.Minute)
	later.Spec.StartTime = &metav1.Time{Time: now.Add(3 * time.Hour)}
	c := fakeCluster(append(objs, more, again, later)...).Build()

	out, _, err := runCLI(t, c, "explain", "view-erin")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"Expires:         in 1h10m",
		"  extended by view-erin-more: +30m0s, approved at ",
		"  not extended by view-erin-again: the grant already has the 1 extension(s) the policy allows (maxExtensions)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("view-erin: missing %q in\n%s", w, out)
		}
	}
	if out, _, err = runCLI(t, c, "explain", "view-erin-more"); err != nil || !strings.Contains(out,
		"Extends:         view-erin; approved, so the grant of view-erin lasts 30m0s longer") {
		t.Errorf("view-erin-more: %v\n%s", err, out)
	}
	if out, _, err = runCLI(t, c, "explain", "view-later"); err != nil ||
		!strings.Contains(out, "Outcome now:     Scheduled") || !strings.Contains(out, "Starts:          in 3h") {
		t.Errorf("view-later: %v\n%s", err, out)
	}
}

func TestExplainShowsJustificationAndTagsAsWritten(t *testing.T) {
	tricky := cliRequest("tricky", "erin", "edit", accessv1alpha1.RoleKindClusterRole, 5*time.Minute)
	tricky.Spec.Justification = "fix \u202egnp.exe\nsecond line"
	tricky.Spec.Tags["ticket"] = "CHG-9\x1b[31m"
	out, _, err := runCLI(t, cliClient(dev, nil, tricky), "explain", "tricky")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Justification:   fix \\u202egnp.exe second line\n") ||
		!strings.Contains(out, "Tags:            ticket=CHG-9\\u001b[31m,type=temporary\n") ||
		strings.ContainsAny(out, "\u202e\x1b") {
		t.Errorf("justification or tags not shown safely:\n%s", out)
	}
}
