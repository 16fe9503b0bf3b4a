package policy

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func TestSelect(t *testing.T) {
	other := func(name string, selector map[string]string, roles ...string) accessv1alpha1.ApprovalPolicy {
		p := accessv1alpha1.ApprovalPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}
		p.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: selector}
		for _, r := range roles {
			p.Spec.Entitlements = append(p.Spec.Entitlements, accessv1alpha1.Entitlement{
				RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: r}, MaxDuration: dur(time.Hour)})
		}
		return p
	}
	deleting := *paymentsPolicy()
	deleting.DeletionTimestamp = &metav1.Time{Time: t0}
	badSelector := *paymentsPolicy()
	badSelector.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "team", Operator: "Bogus"}}}

	cases := []struct {
		name       string
		policies   []accessv1alpha1.ApprovalPolicy
		specPolicy string
		nsLabels   map[string]string
		want       string // selected policy name, or "" for a violation
		reason     string
		contains   []string
	}{
		{name: "selects the only policy that governs the namespace and catalogs the role",
			policies: []accessv1alpha1.ApprovalPolicy{*paymentsPolicy(), other("ledger", map[string]string{"team": "ledger"}, "db-migrator")},
			want:     "payments"},
		{name: "rejects when no policy governs the namespace",
			policies: []accessv1alpha1.ApprovalPolicy{other("ledger", map[string]string{"team": "ledger"}, "db-migrator")},
			reason:   accessv1alpha1.ReasonNoMatchingPolicy,
			contains: []string{"no policy allows Role db-migrator in namespace payments"}},
		{name: "rejects with no policies at all (default deny)",
			reason: accessv1alpha1.ReasonNoMatchingPolicy},
		{name: "rejects a role that no governing policy catalogs and lists what can be requested",
			policies: []accessv1alpha1.ApprovalPolicy{other("small", map[string]string{"team": "payments"}, "reader")},
			reason:   accessv1alpha1.ReasonRoleNotInCatalog,
			contains: []string{"no policy allows Role db-migrator in namespace payments", `Role/reader (ApprovalPolicy "small")`}},
		{name: "rejects two candidate policies without spec.policy and names both",
			policies: []accessv1alpha1.ApprovalPolicy{*paymentsPolicy(), other("extra", nil, "db-migrator")},
			reason:   accessv1alpha1.ReasonAmbiguousPolicy,
			contains: []string{"extra, payments", "set spec.policy"}},
		{name: "spec.policy resolves an ambiguity",
			policies:   []accessv1alpha1.ApprovalPolicy{*paymentsPolicy(), other("extra", nil, "db-migrator")},
			specPolicy: "extra", want: "extra"},
		{name: "rejects spec.policy naming a policy that does not exist",
			policies: []accessv1alpha1.ApprovalPolicy{*paymentsPolicy()}, specPolicy: "nope",
			reason: accessv1alpha1.ReasonPolicyNotFound, contains: []string{`"nope" does not exist`}},
		{name: "rejects spec.policy naming a policy that does not govern the namespace",
			policies:   []accessv1alpha1.ApprovalPolicy{other("ledger", map[string]string{"team": "ledger"}, "db-migrator")},
			specPolicy: "ledger", reason: accessv1alpha1.ReasonNoMatchingPolicy},
		{name: "rejects spec.policy naming a policy without the role",
			policies:   []accessv1alpha1.ApprovalPolicy{other("small", nil, "reader")},
			specPolicy: "small", reason: accessv1alpha1.ReasonRoleNotInCatalog, contains: []string{"request one of: Role/reader"}},
		{name: "an empty selector governs every namespace",
			policies: []accessv1alpha1.ApprovalPolicy{other("all", map[string]string{}, "db-migrator")}, want: "all"},
		{name: "a policy being deleted governs nothing",
			policies: []accessv1alpha1.ApprovalPolicy{deleting}, reason: accessv1alpha1.ReasonNoMatchingPolicy},
		{name: "a selector that does not parse selects nothing",
			policies: []accessv1alpha1.ApprovalPolicy{badSelector}, reason: accessv1alpha1.ReasonNoMatchingPolicy},
		{name: "the namespace's labels decide",
			policies: []accessv1alpha1.ApprovalPolicy{*paymentsPolicy()}, nsLabels: map[string]string{"team": "ledger"},
			reason: accessv1alpha1.ReasonNoMatchingPolicy},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := migrateRequest()
			req.Spec.Policy = tc.specPolicy
			ns := tc.nsLabels
			if ns == nil {
				ns = paymentsNS
			}
			p, v := Select(tc.policies, ns, req)
			if tc.want != "" {
				if v != nil || p == nil || p.Name != tc.want {
					t.Fatalf("Select() = %v, %v; want policy %q", p, v, tc.want)
				}
				return
			}
			if v == nil {
				t.Fatalf("Select() = %q, want a %s violation", p.Name, tc.reason)
			}
			if v.Reason != tc.reason {
				t.Errorf("reason = %s, want %s (%s)", v.Reason, tc.reason, v)
			}
			if v.Field == "" || !strings.HasPrefix(v.Field, "spec.") {
				t.Errorf("violation must name a spec field, got %q", v.Field)
			}
			for _, s := range tc.contains {
				if !strings.Contains(v.Message, s) {
					t.Errorf("message %q does not contain %q", v.Message, s)
				}
			}
		})
	}
}

func TestMatchesSubject(t *testing.T) {
	cases := []struct {
		name    string
		subject accessv1alpha1.Subject
		user    accessv1alpha1.UserInfo
		want    bool
	}{
		{"a user matches by username", accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: "alice"}, user("alice"), true},
		{"a user does not match another username", accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: "alice"}, user("bob", "alice"), false},
		{"a group matches a member", accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectGroup, Name: "ops"}, user("bob", "dev", "ops"), true},
		{"a group does not match a username of that name", accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectGroup, Name: "ops"}, user("ops"), false},
		{"a service account matches its username",
			accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectServiceAccount, Namespace: "argocd", Name: "ctrl"},
			user("system:serviceaccount:argocd:ctrl"), true},
		{"a service account in another namespace does not match",
			accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectServiceAccount, Namespace: "argocd", Name: "ctrl"},
			user("system:serviceaccount:flux:ctrl"), false},
		{"an unknown kind matches nothing", accessv1alpha1.Subject{Kind: "Robot", Name: "alice"}, user("alice"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := MatchesSubject(tc.subject, tc.user); got != tc.want {
				t.Errorf("MatchesSubject = %v, want %v", got, tc.want)
			}
		})
	}
}
