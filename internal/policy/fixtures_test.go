package policy

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func dur(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }

func user(name string, groups ...string) accessv1alpha1.UserInfo {
	return accessv1alpha1.UserInfo{Username: name, Groups: groups}
}

// paymentsPolicy is SPEC.md's example policy.
func paymentsPolicy() *accessv1alpha1.ApprovalPolicy {
	return &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "payments"},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}},
			Requesters:        []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "payments-devs"}},
			RequiredTags: []accessv1alpha1.RequiredTag{
				{Key: "type", Values: []string{"temporary", "break-glass", "recurring"}},
				{Key: "application", Values: []string{"payments-api", "ledger"}},
				{Key: "sensitivity", Values: []string{"low", "medium", "high", "critical"}},
				{Key: "urgency", Values: []string{"low", "normal", "high"}},
				{Key: "owner"},
			},
			Entitlements: []accessv1alpha1.Entitlement{
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "view"},
					MaxDuration: dur(8 * time.Hour), Sensitivity: accessv1alpha1.SensitivityLow, AutoApprove: true},
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
					MaxDuration: dur(time.Hour), Sensitivity: accessv1alpha1.SensitivityHigh},
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "config-reader"},
					MaxDuration: dur(4 * time.Hour), Sensitivity: accessv1alpha1.SensitivityLow},
			},
			Approvers: []accessv1alpha1.ApproverTier{
				{Name: "app-owners", RequiredApprovals: 1, MaxSensitivity: accessv1alpha1.SensitivityMedium,
					EscalateAfter: ptr.To(dur(30 * time.Minute)),
					Subjects: []accessv1alpha1.Subject{
						{Kind: accessv1alpha1.SubjectUser, Name: "alice"},
						{Kind: accessv1alpha1.SubjectGroup, Name: "payments-owners"},
					}},
				{Name: "security", RequiredApprovals: 2,
					Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "security-oncall"}}},
			},
			PendingTimeout: ptr.To(dur(72 * time.Hour)),
			TrustedSubmitters: []accessv1alpha1.Subject{
				{Kind: accessv1alpha1.SubjectServiceAccount, Namespace: "argocd", Name: "argocd-application-controller"},
			},
		},
	}
}

var paymentsNS = map[string]string{"team": "payments", "kubernetes.io/metadata.name": "payments"}

// migrateRequest is SPEC.md's example request, opened by dave of payments-devs.
func migrateRequest() *accessv1alpha1.AccessRequest {
	return &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "ledger-migrate-4711", Namespace: "payments", CreationTimestamp: metav1.NewTime(t0)},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "ledger-migrator"},
			RoleRef:        accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
			Duration:       dur(time.Hour),
			Justification:  "Run schema migration for CHG-1234",
			Tags: map[string]string{
				"type": "temporary", "application": "ledger", "sensitivity": "high", "urgency": "normal", "owner": "team-ledger",
			},
			Requester: &accessv1alpha1.Requester{UserInfo: user("dave", "payments-devs", "system:authenticated")},
		},
	}
}

// withRole turns the example request into one for another role and sensitivity.
func withRole(req *accessv1alpha1.AccessRequest, kind accessv1alpha1.RoleKind, name, sensitivity string) *accessv1alpha1.AccessRequest {
	req.Spec.RoleRef = accessv1alpha1.RoleRef{Kind: kind, Name: name}
	req.Spec.Tags["sensitivity"] = sensitivity
	return req
}

func decision(name, reviewer string, groups []string, d accessv1alpha1.DecisionType, after time.Duration) accessv1alpha1.AccessDecision {
	u := user(reviewer, groups...)
	return accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "payments", CreationTimestamp: metav1.NewTime(t0.Add(after))},
		Spec:       accessv1alpha1.AccessDecisionSpec{Request: "ledger-migrate-4711", Decision: d, Reviewer: &u},
	}
}

var (
	security = []string{"security-oncall", "system:authenticated"}
	owners   = []string{"payments-owners", "system:authenticated"}
)

// example is SPEC's example policy and request, each changed by its
// mutator when one is given.
func example(mutatePolicy func(*accessv1alpha1.ApprovalPolicy), mutateRequest func(*accessv1alpha1.AccessRequest)) (
	*accessv1alpha1.ApprovalPolicy, *accessv1alpha1.AccessRequest,
) {
	p, req := paymentsPolicy(), migrateRequest()
	if mutatePolicy != nil {
		mutatePolicy(p)
	}
	if mutateRequest != nil {
		mutateRequest(req)
	}
	return p, req
}
