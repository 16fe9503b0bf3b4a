package v1alpha1_test

import (
	"fmt"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/test/utils"
)

// A request for a role whose rules let a holder outlive the grant is
// refused at admission, naming the field and the fix, until the policy
// accepts the risk.
func TestRequestForARiskyRoleIsRefusedAtAdmission(t *testing.T) {
	utils.RequireEnvtest(t)
	ref := accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "token-minter"}
	tm := newTeam(t, func(p *accessv1alpha1.ApprovalPolicy) {
		p.Spec.Entitlements = append(p.Spec.Entitlements, accessv1alpha1.Entitlement{RoleRef: ref,
			MaxDuration: metav1.Duration{Duration: time.Hour}, Sensitivity: accessv1alpha1.SensitivityHigh})
	})
	utils.Must(t, admin.Create(t.Context(), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: ref.Name, Namespace: tm.ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, Verbs: []string{"create"}}}}))

	alice := as(t, "alice", devs...)
	request := func() *accessv1alpha1.AccessRequest {
		r := tm.requestObject("mint")
		r.Spec.RoleRef = ref
		return r
	}
	want := []string{
		"spec.roleRef: Forbidden: Role/token-minter lets its holder outlive or widen a temporary grant",
		`rule {apiGroups: [""], resources: ["serviceaccounts/token"], verbs: ["create"]} can mint service account tokens`,
		"ask the policy owner to remove the rule, or set allowPersistenceRisk: true with persistenceRiskReason",
	}
	// Admission reads a role its cache does not hold yet around the cache,
	// so a request for a risky role created a moment ago is never admitted.
	utils.Eventually(t, wait, func() error {
		err := alice.Create(t.Context(), request(), client.DryRunAll)
		if err == nil {
			t.Fatal("a request for a risky role was admitted")
		}
		if !apierrors.IsInvalid(err) || !containsAll(err.Error(), want...) {
			return fmt.Errorf("refused with %q, want %q", err.Error(), want)
		}
		return nil
	})
	refused(t, alice.Create(t.Context(), request()), want...)

	// The policy owner accepts the risk: the same request is admitted.
	p := &accessv1alpha1.ApprovalPolicy{}
	utils.Must(t, admin.Get(t.Context(), client.ObjectKey{Name: tm.policy}, p))
	p.Spec.Entitlements[1].AllowPersistenceRisk = true
	p.Spec.Entitlements[1].PersistenceRiskReason = "token rotation job; reviewed in SEC-7"
	utils.Must(t, admin.Update(t.Context(), p))
	utils.Eventually(t, wait, func() error { return alice.Create(t.Context(), request(), client.DryRunAll) })
}
