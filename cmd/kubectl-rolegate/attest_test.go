package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/test/utils"
)

// reviewedPolicy governs namespace payments for ClusterRole audit-reader,
// is reviewed every 90 days by its owners tier (bob's group), was created
// 100 days before now and last attested lastReviewed ago (0: never).
func reviewedPolicy(name string, lastReviewed time.Duration, onOverdue accessv1alpha1.OverdueAction) *accessv1alpha1.ApprovalPolicy {
	p := &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(now.Add(-100 * 24 * time.Hour))},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}},
			Entitlements: []accessv1alpha1.Entitlement{{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole,
				Name: "audit-reader"}, MaxDuration: metav1.Duration{Duration: time.Hour}}},
			Approvers: []accessv1alpha1.ApproverTier{{Name: "owners",
				Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "payments-owners"}}}},
			Review: &accessv1alpha1.PolicyReview{Every: metav1.Duration{Duration: 90 * 24 * time.Hour}, OnOverdue: onOverdue,
				Reviewers: accessv1alpha1.PolicyReviewers{Tier: "owners"}},
		},
	}
	if lastReviewed != 0 {
		p.Status.LastReviewed = &metav1.Time{Time: now.Add(-lastReviewed)}
		p.Status.LastReviewedBy = "alice"
	}
	return p
}

func TestAttestCreatesAnAttestation(t *testing.T) {
	c := cliClient(&user{name: "bob", groups: []string{"payments-owners"}}, nil, reviewedPolicy("audit", 0, ""))
	out, errOut, err := runCLI(t, c, "attest", "audit", "-m", "catalog checked")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	m := regexp.MustCompile(`^accessdecision\.access\.rolegate\.dev/(audit-review-\w+) created \(Attest ApprovalPolicy audit\)\n` +
		`The next review of audit is due by \S+Z\.\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output %q", out)
	}
	got := &accessv1alpha1.AccessDecision{}
	utils.Must(t, c.Get(t.Context(), client.ObjectKey{Namespace: "payments", Name: m[1]}, got))
	if got.Spec.Policy != "audit" || got.Spec.Request != "" || got.Spec.Decision != accessv1alpha1.DecisionAttest ||
		got.Spec.Comment != "catalog checked" || got.Spec.Reviewer != nil {
		t.Errorf("spec = %+v", got.Spec)
	}
}

func TestPendingListsTheReviewsTheUserMayAttest(t *testing.T) {
	const day = 24 * time.Hour
	extra := []client.Object{
		reviewedPolicy("audit", 0, accessv1alpha1.OverdueSuspendNewGrants), // due 10 days ago
		reviewedPolicy("billing", 80*day, ""),                              // due in 10 days: open
		reviewedPolicy("ledger", 30*day, ""),                               // due in 60 days: not yet
	}
	out, errOut, err := runCLI(t, cliClient(&user{name: "bob", groups: []string{"payments-owners"}}, nil, extra...), "pending")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	want := "\nPolicy reviews you may attest (kubectl rolegate attest POLICY -n NAMESPACE -m COMMENT):\n" +
		"POLICY    REVIEW    DUE       LAST-REVIEWED      ON-OVERDUE\n" +
		"audit     Overdue   10d ago   never              SuspendNewGrants\n" +
		"billing   Due       in 10d    80d ago by alice   Warn\n"
	if !strings.HasSuffix(out, want) {
		t.Errorf("got:\n%s\nwant it to end with:\n%s", out, want)
	}
	// Someone who is no reviewer sees no reviews.
	out, _, err = runCLI(t, cliClient(&user{name: "carol", groups: []string{"security-oncall"}}, nil, extra...), "pending")
	if err != nil || strings.Contains(out, "Policy reviews") {
		t.Errorf("err %v, a non-reviewer was shown reviews:\n%s", err, out)
	}
}

// TestApproverPersonaAttests: bob, bound only to the shipped requester
// role in payments and the policy reader, lists the due review and attests.
func TestApproverPersonaAttests(t *testing.T) {
	utils.RequireEnvtest(t)
	cfg, admin := personaCluster(t)
	p := reviewedPolicy("persona-audit", 0, "")
	p.CreationTimestamp = metav1.Time{}
	p.Spec.Review.Every = metav1.Duration{Duration: time.Second}
	utils.Must(t, admin.Create(t.Context(), p))
	t.Cleanup(func() { _ = admin.Delete(context.Background(), p) })
	time.Sleep(time.Second) // the one-second period has passed: the review is overdue

	out, errOut, err := runAs(t, cfg, approverPersona, "pending")
	if err != nil || !regexp.MustCompile(`(?m)^persona-audit\s+Overdue\s`).MatchString(out) {
		t.Fatalf("pending: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	out, errOut, err = runAs(t, cfg, approverPersona, "attest", "persona-audit", "-m", "checked")
	if err != nil || !strings.Contains(out, "(Attest ApprovalPolicy persona-audit)") || strings.Contains(strings.ToLower(out+errOut), "forbidden") {
		t.Fatalf("attest: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
}
