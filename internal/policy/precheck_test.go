package policy

import (
	"reflect"
	"slices"
	"testing"

	"k8s.io/utils/ptr"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func TestPrecheck(t *testing.T) {
	dave := user("dave", "payments-devs", "system:authenticated")
	argo := user(ServiceAccountUsername("argocd", "argocd-application-controller"), "system:serviceaccounts")
	other := paymentsPolicy()
	other.Name = "other-team"
	other.Spec.NamespaceSelector.MatchLabels = map[string]string{"team": "other"}

	for _, tc := range []struct {
		name        string
		mutate      func(in *PrecheckInput)
		wantPolicy  string
		wantReasons []string
		wantExplain []string
	}{
		{name: "passes a valid request by a requester and names its policy", wantPolicy: "payments"},
		{name: "ignores a requester the client wrote: the creating user counts",
			mutate: func(in *PrecheckInput) {
				in.Request.Spec.Requester = &accessv1alpha1.Requester{UserInfo: user("mallory")}
			},
			wantPolicy: "payments"},
		{name: "refuses a user who is not a requester",
			mutate:      func(in *PrecheckInput) { in.User = ptr.To(user("erin", "system:authenticated")) },
			wantPolicy:  "payments",
			wantReasons: []string{accessv1alpha1.ReasonRequesterNotAllowed}, wantExplain: []string{"payments"}},
		{name: "leaves the requesters rule to the server when the user is unknown",
			mutate:     func(in *PrecheckInput) { in.User = nil },
			wantPolicy: "payments"},
		{name: "still checks the rest when the user is unknown",
			mutate: func(in *PrecheckInput) {
				in.User = nil
				delete(in.Request.Spec.Tags, "owner")
			},
			wantPolicy:  "payments",
			wantReasons: []string{accessv1alpha1.ReasonMissingTag}, wantExplain: []string{"payments"}},
		{name: "refuses a trusted submitter opening a request for itself",
			mutate: func(in *PrecheckInput) {
				in.User = &argo
				in.Policies[0].Spec.Requesters = append(in.Policies[0].Spec.Requesters,
					accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectServiceAccount, Namespace: "argocd", Name: "argocd-application-controller"})
			},
			wantPolicy:  "payments",
			wantReasons: []string{accessv1alpha1.ReasonRequesterNotAllowed}, wantExplain: []string{"payments"}},
		{name: "refuses a role that does not exist",
			mutate:      func(in *PrecheckInput) { in.RoleExists = ptr.To(false) },
			wantPolicy:  "payments",
			wantReasons: []string{accessv1alpha1.ReasonRoleNotFound}, wantExplain: []string{"payments"}},
		{name: "does not guess when the role's existence is unknown",
			mutate:     func(in *PrecheckInput) { in.RoleExists = nil },
			wantPolicy: "payments"},
		{name: "explains with every policy governing the namespace when none offers the role",
			mutate: func(in *PrecheckInput) {
				in.Request.Spec.RoleRef = accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "cluster-admin"}
			},
			wantReasons: []string{accessv1alpha1.ReasonRoleNotInCatalog}, wantExplain: []string{"payments"}},
		{name: "explains with no policy when the named one does not exist",
			mutate:      func(in *PrecheckInput) { in.Request.Spec.Policy = "missing" },
			wantReasons: []string{accessv1alpha1.ReasonPolicyNotFound}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := PrecheckInput{
				Policies:        []accessv1alpha1.ApprovalPolicy{*paymentsPolicy(), *other},
				NamespaceLabels: paymentsNS,
				Request:         migrateRequest(),
				User:            &dave,
				RoleExists:      ptr.To(true),
			}
			in.Request.Spec.Requester = nil
			if tc.mutate != nil {
				tc.mutate(&in)
			}
			before := in.Request.DeepCopy()
			got := Precheck(in)
			policyName := ""
			if got.Policy != nil {
				policyName = got.Policy.Name
			}
			if policyName != tc.wantPolicy {
				t.Errorf("policy = %q, want %q", policyName, tc.wantPolicy)
			}
			var reasons, explain []string
			for _, v := range got.Violations {
				reasons = append(reasons, v.Reason)
			}
			for _, p := range got.Explain {
				explain = append(explain, p.Name)
			}
			if !slices.Equal(reasons, tc.wantReasons) {
				t.Errorf("violations = %v, want reasons %v", got.Violations, tc.wantReasons)
			}
			if !slices.Equal(explain, tc.wantExplain) {
				t.Errorf("explaining policies = %v, want %v", explain, tc.wantExplain)
			}
			if !reflect.DeepEqual(before, in.Request) {
				t.Error("Precheck changed the request it was given")
			}
		})
	}
}

func TestPrecheckAgreesWithEvaluate(t *testing.T) {
	// What the client refuses, the evaluator refuses with the same reasons.
	for _, name := range []string{"", "owner-missing", "no-role"} {
		p, req := example(nil, func(r *accessv1alpha1.AccessRequest) {
			if name == "owner-missing" {
				delete(r.Spec.Tags, "owner")
			}
		})
		exists := name != "no-role"
		pre := Precheck(PrecheckInput{Policies: []accessv1alpha1.ApprovalPolicy{*p}, NamespaceLabels: paymentsNS,
			Request: req, User: &req.Spec.Requester.UserInfo, RoleExists: &exists})
		ev := Evaluate(Input{Policies: []accessv1alpha1.ApprovalPolicy{*p}, NamespaceLabels: paymentsNS,
			Request: req, RoleExists: exists, Now: t0})
		if !slices.Equal(pre.Violations, ev.Violations) {
			t.Errorf("%q: Precheck says %v, Evaluate says %v", name, pre.Violations, ev.Violations)
		}
	}
}

func TestRouteOf(t *testing.T) {
	for _, tc := range []struct {
		name            string
		kind            accessv1alpha1.RoleKind
		role, sens      string
		mutate          func(*accessv1alpha1.ApprovalPolicy)
		wantOK, wantAut bool
		wantTier        int
		wantSens        accessv1alpha1.Sensitivity
	}{
		{name: "an auto-approved entitlement needs no tier", kind: accessv1alpha1.RoleKindClusterRole, role: "view", sens: "low",
			wantOK: true, wantAut: true, wantTier: -1},
		{name: "a high request goes to the first tier without a bound", kind: accessv1alpha1.RoleKindRole, role: "db-migrator",
			sens: "high", wantOK: true, wantTier: 1, wantSens: accessv1alpha1.SensitivityHigh},
		{name: "a low request goes to the first tier", kind: accessv1alpha1.RoleKindRole, role: "config-reader", sens: "low",
			wantOK: true, wantTier: 0, wantSens: accessv1alpha1.SensitivityLow},
		{name: "the entitlement's sensitivity wins over a lower tag", kind: accessv1alpha1.RoleKindRole, role: "db-migrator",
			sens: "low", wantOK: true, wantTier: 1, wantSens: accessv1alpha1.SensitivityHigh},
		{name: "a role outside the catalog has no route", kind: accessv1alpha1.RoleKindRole, role: "cluster-admin", sens: "low"},
		{name: "no tier may decide above every bound", kind: accessv1alpha1.RoleKindRole, role: "db-migrator", sens: "high",
			mutate: func(p *accessv1alpha1.ApprovalPolicy) {
				p.Spec.Approvers[1].MaxSensitivity = accessv1alpha1.SensitivityMedium
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, req := example(tc.mutate, func(r *accessv1alpha1.AccessRequest) { withRole(r, tc.kind, tc.role, tc.sens) })
			r, ok := RouteOf(p, req)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if r.AutoApprove != tc.wantAut || r.Tier != tc.wantTier || r.Sensitivity != tc.wantSens {
				t.Errorf("route = %+v, want autoApprove %v, tier %d, sensitivity %q", r, tc.wantAut, tc.wantTier, tc.wantSens)
			}
			if r.Entitlement == nil || r.Entitlement.RoleRef.Name != tc.role {
				t.Errorf("entitlement = %+v, want the one for %s", r.Entitlement, tc.role)
			}
		})
	}
}

func TestFormatSubject(t *testing.T) {
	for _, tc := range []struct {
		s    accessv1alpha1.Subject
		want string
	}{
		{accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectGroup, Name: "payments-owners"}, "Group payments-owners"},
		{accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: "alice"}, "User alice"},
		{accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectServiceAccount, Namespace: "argocd", Name: "deployer"},
			"ServiceAccount argocd/deployer"},
		{accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectServiceAccount, Name: "deployer"}, "ServiceAccount deployer"},
	} {
		if got := FormatSubject(tc.s); got != tc.want {
			t.Errorf("FormatSubject(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}
