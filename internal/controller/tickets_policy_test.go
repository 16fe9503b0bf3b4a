package controller_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/test/utils"
)

// A policy whose ticket pattern is not RE2 (stored while the policy webhook
// was down, as in this suite, which runs no webhooks) is not Ready, and says
// which field to fix.
func TestABrokenTicketPatternMakesThePolicyNotReady(t *testing.T) {
	utils.RequireEnvtest(t)
	ns := riskNamespace(t)
	p := riskPolicy(ns+"-policy", ns, accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "view"})
	p.Spec.RequiredTags = []accessv1alpha1.RequiredTag{{Key: "change", Pattern: `^CHG-[0-9+$`}}
	createPolicy(t, p)
	c := waitPolicy(t, p.Name, metav1.ConditionFalse, policy.ReasonInvalidRequiredTag)
	wantInMessage(t, c, `spec.requiredTags[0].pattern: "^CHG-[0-9+$" is not an RE2 regular expression`)
}
