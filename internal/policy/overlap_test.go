package policy

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func namespace(name string, labels map[string]string) corev1.Namespace {
	return corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func TestOverlaps(t *testing.T) {
	cluster := []corev1.Namespace{
		namespace("payments", map[string]string{"team": "payments", "env": "prod"}),
		namespace("ledger", map[string]string{"team": "payments", "env": "dev"}),
		namespace("web", map[string]string{"team": "web"}),
	}
	// other is a second policy offering db-migrator exactly as payments does.
	other := func(mutate func(*accessv1alpha1.ApprovalPolicy)) *accessv1alpha1.ApprovalPolicy {
		p := paymentsPolicy()
		p.Name = "payments-fast"
		p.Spec.Entitlements = []accessv1alpha1.Entitlement{p.Spec.Entitlements[1]}
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	cases := []struct {
		name       string
		b          *accessv1alpha1.ApprovalPolicy
		namespaces []corev1.Namespace
		// want is "role in namespaces"; weaker lists how b is weaker, aWeaker how a is.
		want    []string
		weaker  []string
		aWeaker []string
	}{
		{name: "the same role in the same namespaces overlaps, and an equal policy is not weaker",
			b: other(nil), namespaces: cluster, want: []string{"Role/db-migrator in ledger,payments"}},
		{name: "a policy never overlaps itself",
			b: paymentsPolicy(), namespaces: cluster},
		{name: "policies for disjoint namespaces do not overlap",
			b: other(func(p *accessv1alpha1.ApprovalPolicy) {
				p.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "web"}}
			}), namespaces: cluster},
		{name: "policies offering different roles do not overlap",
			b:          other(func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.Entitlements[0].RoleRef.Name = "db-admin" }),
			namespaces: cluster},
		{name: "a narrower selector overlaps only where both select",
			b: other(func(p *accessv1alpha1.ApprovalPolicy) {
				p.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": "dev"}}
			}), namespaces: cluster, want: []string{"Role/db-migrator in ledger"}},
		{name: "identical selectors overlap before any namespace matches",
			b: other(nil), want: []string{"Role/db-migrator in "}},
		{name: "a policy being deleted overlaps nothing",
			b: other(func(p *accessv1alpha1.ApprovalPolicy) { p.DeletionTimestamp = ptr.To(metav1.Now()) }), namespaces: cluster},
		{name: "auto-approval, a longer maxDuration, fewer tags and no justification make it weaker",
			b: other(func(p *accessv1alpha1.ApprovalPolicy) {
				p.Spec.Entitlements[0].AutoApprove = true
				p.Spec.Entitlements[0].MaxDuration = dur(8 * time.Hour)
				p.Spec.RequiredTags = p.Spec.RequiredTags[:2]
				p.Spec.RequireJustification = ptr.To(false)
			}), namespaces: cluster, want: []string{"Role/db-migrator in ledger,payments"},
			weaker: []string{
				`grants without approval (autoApprove) where "payments" requires approval`,
				`allows maxDuration 8h0m0s where "payments" allows 1h0m0s`,
				`does not require tag(s) sensitivity, urgency, owner that "payments" requires`,
				`does not require a justification where "payments" does`,
			}},
		{name: "fewer approvals, a lower floor, break-glass and more extensions make it weaker",
			b: other(func(p *accessv1alpha1.ApprovalPolicy) {
				p.Spec.Approvers[1].RequiredApprovals = 1
				p.Spec.Entitlements[0].BreakGlass = &accessv1alpha1.BreakGlass{MaxDuration: dur(30 * time.Minute)}
				p.Spec.MaxExtensions = 2
			}), namespaces: cluster, want: []string{"Role/db-migrator in ledger,payments"},
			weaker: []string{
				`needs 1 approval(s) where "payments" needs 2`,
				`offers break-glass access where "payments" does not`,
				`allows 2 extension(s) where "payments" allows 0`,
			}},
		{name: "a lower sensitivity floor routes to a weaker tier",
			b: other(func(p *accessv1alpha1.ApprovalPolicy) {
				p.Spec.Entitlements[0].Sensitivity = accessv1alpha1.SensitivityMedium
			}),
			namespaces: cluster, want: []string{"Role/db-migrator in ledger,payments"},
			weaker: []string{`needs 1 approval(s) where "payments" needs 2`, `has sensitivity floor medium where "payments" has high`}},
		{name: "the weaker side can be the first policy",
			b:          other(func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.Entitlements[0].MaxDuration = dur(30 * time.Minute) }),
			namespaces: cluster, want: []string{"Role/db-migrator in ledger,payments"},
			aWeaker: []string{`allows maxDuration 1h0m0s where "payments-fast" allows 30m0s`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Overlaps(paymentsPolicy(), tc.b, tc.namespaces)
			var roles []string
			for _, o := range got {
				roles = append(roles, o.RoleRef.String()+" in "+strings.Join(o.Namespaces, ","))
			}
			if strings.Join(roles, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("Overlaps() = %v, want %v", roles, tc.want)
			}
			if len(got) == 0 {
				return
			}
			if strings.Join(got[0].BWeaker, "|") != strings.Join(tc.weaker, "|") {
				t.Errorf("b weaker = %q, want %q", got[0].BWeaker, tc.weaker)
			}
			if strings.Join(got[0].AWeaker, "|") != strings.Join(tc.aWeaker, "|") {
				t.Errorf("a weaker = %q, want %q", got[0].AWeaker, tc.aWeaker)
			}
			// Overlap is symmetric: seen from b, the roles and sides swap.
			back := Overlaps(tc.b, paymentsPolicy(), tc.namespaces)
			if len(back) != len(got) || strings.Join(back[0].AWeaker, "|") != strings.Join(tc.weaker, "|") {
				t.Errorf("Overlaps(b, a) = %+v, want the mirror of %+v", back, got)
			}
		})
	}
}

func TestOverlapString(t *testing.T) {
	o := Overlap{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
		Namespaces: []string{"ledger", "payments"}, BWeaker: []string{"needs 1 approval(s) where \"a\" needs 2"}}
	want := `ApprovalPolicy "b" also offers Role/db-migrator in namespace(s) ledger, payments; a request for it there matches both ` +
		`policies and must name one in spec.policy; "b" is weaker: it needs 1 approval(s) where "a" needs 2`
	if got := o.String("a", "b"); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	o.Namespaces, o.BWeaker = nil, nil
	if got := o.String("a", "b"); !strings.Contains(got, "their namespaceSelectors are identical") || strings.Contains(got, "weaker") {
		t.Errorf("String() = %s", got)
	}
}
