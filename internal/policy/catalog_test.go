package policy

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// platformPolicy governs every namespace labelled tier=prod, lets anyone
// request, and offers view (ambiguous with payments') and a break-glass edit.
func platformPolicy() *accessv1alpha1.ApprovalPolicy {
	no := false
	return &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "platform"},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"}},
			RequireJustification: &no,
			Entitlements: []accessv1alpha1.Entitlement{
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "view"}, MaxDuration: dur(time.Hour)},
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "edit"}, MaxDuration: dur(2 * time.Hour),
					Sensitivity: accessv1alpha1.SensitivityCritical,
					BreakGlass:  &accessv1alpha1.BreakGlass{MaxDuration: dur(3 * time.Hour)}},
			},
			Approvers: []accessv1alpha1.ApproverTier{{Name: "sre", MaxSensitivity: accessv1alpha1.SensitivityHigh,
				Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "sre"}}}},
		},
	}
}

func TestCatalog(t *testing.T) {
	dev := user("carol", "payments-devs")
	outsider := user("mallory", "contractors")
	prodPayments := map[string]string{"team": "payments", "tier": "prod"}
	deleting := paymentsPolicy()
	deleting.DeletionTimestamp = &metav1.Time{Time: t0}

	type row struct {
		policy, role string
	}
	tests := []struct {
		name     string
		policies []accessv1alpha1.ApprovalPolicy
		labels   map[string]string
		user     *accessv1alpha1.UserInfo
		want     []row
	}{
		{"a requester sees the catalog of the policy governing the namespace, sorted by role",
			[]accessv1alpha1.ApprovalPolicy{*paymentsPolicy(), *platformPolicy()}, paymentsNS, &dev,
			[]row{{"payments", "ClusterRole/view"}, {"payments", "Role/config-reader"}, {"payments", "Role/db-migrator"}}},
		{"a user outside the policy's requesters sees nothing of it",
			[]accessv1alpha1.ApprovalPolicy{*paymentsPolicy()}, paymentsNS, &outsider, nil},
		{"an unidentified user sees every governing policy's catalog",
			[]accessv1alpha1.ApprovalPolicy{*paymentsPolicy()}, paymentsNS, nil,
			[]row{{"payments", "ClusterRole/view"}, {"payments", "Role/config-reader"}, {"payments", "Role/db-migrator"}}},
		{"a namespace no policy governs offers nothing",
			[]accessv1alpha1.ApprovalPolicy{*paymentsPolicy(), *platformPolicy()}, map[string]string{"team": "ledger"}, &dev, nil},
		{"a policy being deleted offers nothing",
			[]accessv1alpha1.ApprovalPolicy{*deleting}, paymentsNS, &dev, nil},
		{"policies without requesters are open to everyone; overlapping roles come from both",
			[]accessv1alpha1.ApprovalPolicy{*platformPolicy(), *paymentsPolicy()}, prodPayments, &outsider,
			[]row{{"platform", "ClusterRole/edit"}, {"platform", "ClusterRole/view"}}},
		{"both policies, sorted by role then policy",
			[]accessv1alpha1.ApprovalPolicy{*platformPolicy(), *paymentsPolicy()}, prodPayments, &dev,
			[]row{{"platform", "ClusterRole/edit"}, {"payments", "ClusterRole/view"}, {"platform", "ClusterRole/view"},
				{"payments", "Role/config-reader"}, {"payments", "Role/db-migrator"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []row
			for _, e := range Catalog(tt.policies, tt.labels, tt.user) {
				got = append(got, row{e.Policy, e.RoleRef.String()})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Catalog() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCatalogTerms(t *testing.T) {
	prodPayments := map[string]string{"team": "payments", "tier": "prod"}
	// mallory is no payments dev: view is still marked ambiguous, because
	// admission counts every governing policy, not only those she may use.
	mallory := user("mallory")
	got := Catalog([]accessv1alpha1.ApprovalPolicy{*paymentsPolicy(), *platformPolicy()}, prodPayments, &mallory)
	byRole := map[string]CatalogEntry{}
	for _, e := range got {
		byRole[e.RoleRef.String()] = e
	}
	edit, view := byRole["ClusterRole/edit"], byRole["ClusterRole/view"]

	// edit: critical, no tier may decide it, break-glass capped at the
	// entitlement's maxDuration, justification not required.
	if edit.Decidable() || edit.Tier != "" || edit.Approvers != nil {
		t.Errorf("edit: tier %q approvers %v, want none (sre decides up to high only)", edit.Tier, edit.Approvers)
	}
	if !edit.BreakGlass() || edit.BreakGlassMaxDuration.Duration != 2*time.Hour {
		t.Errorf("edit: break-glass max %v, want 2h (capped at maxDuration)", edit.BreakGlassMaxDuration)
	}
	if edit.JustificationRequired || edit.Sensitivity != accessv1alpha1.SensitivityCritical {
		t.Errorf("edit: justification %v sensitivity %s, want false, critical", edit.JustificationRequired, edit.Sensitivity)
	}
	if !view.NeedsPolicy || view.Policy != "platform" {
		t.Errorf("view: NeedsPolicy %v policy %s, want true under platform", view.NeedsPolicy, view.Policy)
	}
	if view.Sensitivity != accessv1alpha1.SensitivityLow || view.Tier != "sre" || !view.Decidable() {
		t.Errorf("view: sensitivity %s tier %q, want low decided by sre", view.Sensitivity, view.Tier)
	}
	if edit.NeedsPolicy {
		t.Error("edit is offered by one policy only; NeedsPolicy must be false")
	}

	// payments: db-migrator is high, so security decides; config-reader is
	// low, so app-owners decide and security may too.
	dev := user("carol", "payments-devs")
	for _, e := range Catalog([]accessv1alpha1.ApprovalPolicy{*paymentsPolicy()}, paymentsNS, &dev) {
		switch e.RoleRef.Name {
		case "db-migrator":
			if e.Tier != "security" || FormatSubjects(e.Approvers) != "Group security-oncall" {
				t.Errorf("db-migrator: tier %q approvers %q", e.Tier, FormatSubjects(e.Approvers))
			}
		case "config-reader":
			if e.Tier != "app-owners" || FormatSubjects(e.Approvers) != "User alice, Group payments-owners, Group security-oncall" {
				t.Errorf("config-reader: tier %q approvers %q", e.Tier, FormatSubjects(e.Approvers))
			}
		case "view":
			if !e.AutoApprove || e.Tier != "" || !e.Decidable() {
				t.Errorf("view: auto %v tier %q, want auto-approved without tier", e.AutoApprove, e.Tier)
			}
		}
		if !e.JustificationRequired || len(e.RequiredTags) != 5 || e.BreakGlass() {
			t.Errorf("%s: justification %v tags %d break-glass %v", e.RoleRef, e.JustificationRequired, len(e.RequiredTags), e.BreakGlass())
		}
	}
}

func TestNextDecidingTier(t *testing.T) {
	p := paymentsPolicy()
	if i, ok := NextDecidingTier(p, accessv1alpha1.SensitivityLow, 0); !ok || i != 1 {
		t.Errorf("after app-owners for low: %d %v, want security (1)", i, ok)
	}
	if _, ok := NextDecidingTier(p, accessv1alpha1.SensitivityLow, 1); ok {
		t.Error("after security: want none")
	}
	if i, ok := NextDecidingTier(p, accessv1alpha1.SensitivityHigh, -1); !ok || i != 1 {
		t.Errorf("first tier for high: %d %v, want security (1)", i, ok)
	}
}
