package v1alpha1_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/test/utils"
)

var (
	devs     = []string{"payments-devs"}
	security = []string{"security-oncall"}
	owners   = []string{"payments-owners"}
	argocd   = "system:serviceaccount:argocd:argocd-application-controller"
)

const wait = 20 * time.Second

// refused asserts that admission refused the write with a message holding
// every part.
func refused(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the write was admitted; want it refused with %q", parts)
	}
	if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
		t.Fatalf("error = %v; want a refusal from admission", err)
	}
	if !containsAll(err.Error(), parts...) {
		t.Fatalf("error = %q; want it to contain %q", err.Error(), parts)
	}
}

func (tm *team) open(t *testing.T, name, user string, groups ...string) *accessv1alpha1.AccessRequest {
	t.Helper()
	r := tm.requestObject(name)
	utils.Must(t, as(t, user, groups...).Create(t.Context(), r))
	return r
}

func (tm *team) decide(t *testing.T, request string, d accessv1alpha1.DecisionType, user string, groups ...string) (*accessv1alpha1.AccessDecision, error) {
	t.Helper()
	dec := tm.decisionObject(request, d)
	return dec, as(t, user, groups...).Create(t.Context(), dec)
}

func (tm *team) get(t *testing.T, name string) *accessv1alpha1.AccessRequest {
	t.Helper()
	r := &accessv1alpha1.AccessRequest{}
	utils.Must(t, admin.Get(t.Context(), client.ObjectKey{Namespace: tm.ns, Name: name}, r))
	return r
}

func (tm *team) waitReady(t *testing.T, name, reason string) *accessv1alpha1.AccessRequest {
	t.Helper()
	var r *accessv1alpha1.AccessRequest
	utils.Eventually(t, wait, func() error {
		r = tm.get(t, name)
		if c := meta.FindStatusCondition(r.Status.Conditions, accessv1alpha1.ConditionReady); c == nil || c.Reason != reason {
			return fmt.Errorf("Ready = %+v, want %s", c, reason)
		}
		return nil
	})
	return r
}

func (tm *team) bindings(t *testing.T, request string) []rbacv1.RoleBinding {
	t.Helper()
	var list rbacv1.RoleBindingList
	utils.Must(t, admin.List(t.Context(), &list, client.InNamespace(tm.ns), client.MatchingLabels{accessv1alpha1.RequestLabel: request}))
	return list.Items
}

func TestRequesterIsStampedFromTheAuthenticatedUser(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	r := tm.open(t, "stamped", "alice", devs...)
	got := tm.get(t, r.Name).Spec.Requester
	if got == nil || got.Username != "alice" || got.Via != "" || !containsAll(strings.Join(got.Groups, ","), "payments-devs", "system:authenticated") {
		t.Fatalf("requester = %+v, want alice with her groups", got)
	}
}

func TestForgedRequesterIsRefused(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	r := tm.requestObject("forged")
	r.Spec.Requester = &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{Username: "bob", Groups: []string{"payments-devs"}}}
	refused(t, as(t, "mallory", devs...).Create(t.Context(), r), "spec.requester: Forbidden: is written by rolegate")
}

func TestForgedReviewerIsRefused(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	tm.open(t, "migrate", "alice", devs...)
	d := tm.decisionObject("migrate", accessv1alpha1.DecisionApprove)
	d.Spec.Reviewer = &accessv1alpha1.UserInfo{Username: "carol", Groups: security}
	refused(t, as(t, "mallory").Create(t.Context(), d), "spec.reviewer: Forbidden: is written by rolegate")
}

func TestSelfApprovalIsRefusedAlsoThroughASharedGroup(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	// alice is both a requester and a member of the security tier.
	tm.open(t, "mine", "alice", "payments-devs", "security-oncall")
	_, err := tm.decide(t, "mine", accessv1alpha1.DecisionApprove, "alice", "payments-devs", "security-oncall")
	refused(t, err, "spec.reviewer:", "alice opened this request and may not decide it", "(SelfApproval)")
}

func TestApprovalByANonOwnerIsRefused(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	tm.open(t, "migrate", "alice", devs...)
	_, err := tm.decide(t, "migrate", accessv1alpha1.DecisionApprove, "mallory", "payments-devs")
	refused(t, err, "mallory is not in the deciding tier", "Group security-oncall", "(NotEligible)")
}

func TestApprovalByATierBelowTheSensitivityIsRefused(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	tm.open(t, "migrate", "alice", devs...)
	// app-owners may decide up to medium; the request is high.
	_, err := tm.decide(t, "migrate", accessv1alpha1.DecisionApprove, "bob", owners...)
	refused(t, err, "bob is not in the deciding tier", "tier security decides", "(NotEligible)")
}

func TestDecisionForARequestInAnotherNamespaceIsRefused(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	other := newTeam(t)
	tm.open(t, "migrate", "alice", devs...)
	d := other.decisionObject("migrate", accessv1alpha1.DecisionApprove)
	refused(t, as(t, "carol", security...).Create(t.Context(), d),
		"spec.request: Forbidden: AccessRequest migrate does not exist in namespace "+other.ns, "(RequestNotFound)")
}

func TestTwoDistinctReviewersGrantThroughAdmissionAndTheSpecCannotChangeAfter(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	tm.open(t, "migrate", "alice", devs...)
	_, err := tm.decide(t, "migrate", accessv1alpha1.DecisionApprove, "carol", security...)
	utils.Must(t, err)
	// The same reviewer approving again is refused: it would not count.
	_, err = tm.decide(t, "migrate", accessv1alpha1.DecisionApprove, "carol", security...)
	refused(t, err, "already counted", "(Duplicate)")
	_, err = tm.decide(t, "migrate", accessv1alpha1.DecisionApprove, "erin", security...)
	utils.Must(t, err)
	r := tm.waitReady(t, "migrate", accessv1alpha1.ReasonGranted)
	if len(r.Status.Approvals) != 2 {
		t.Errorf("approvals = %+v, want carol and erin once each", r.Status.Approvals)
	}

	// Changing the spec after approval is refused, even to a cluster admin,
	// and the grant is unchanged.
	r.Spec.RoleRef = accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "cluster-admin"}
	refused(t, admin.Update(t.Context(), r), "spec", "immutable")
	r = tm.get(t, "migrate")
	r.Spec.Requester.Username = "carol"
	refused(t, admin.Update(t.Context(), r), "spec", "immutable")
	bs := tm.bindings(t, "migrate")
	if len(bs) != 1 || bs[0].RoleRef.Name != "db-migrator" || bs[0].RoleRef.Kind != "Role" {
		t.Fatalf("bindings = %+v, want the approved Role db-migrator only", bs)
	}
	// A metadata change is still allowed (labels, for example).
	r = tm.get(t, "migrate")
	r.Labels = map[string]string{"ticket": "chg-1234"}
	utils.Must(t, admin.Update(t.Context(), r))

	// Approving a granted request is refused; the requester may revoke it.
	_, err = tm.decide(t, "migrate", accessv1alpha1.DecisionApprove, "frank", security...)
	refused(t, err, "no longer pending", "(RequestNotPending)")
	_, err = tm.decide(t, "migrate", accessv1alpha1.DecisionRevoke, "alice", devs...)
	utils.Must(t, err)
	tm.waitReady(t, "migrate", accessv1alpha1.ReasonRevoked)
	_, err = tm.decide(t, "migrate", accessv1alpha1.DecisionRevoke, "carol", security...)
	refused(t, err, "is closed", "(RequestNotPending)")
}

func TestRequestsThePolicyWouldRefuseAreRefusedAtAdmission(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	cases := []struct {
		name   string
		mutate func(*accessv1alpha1.AccessRequest)
		groups []string
		want   []string
	}{
		{"role outside the catalog", func(r *accessv1alpha1.AccessRequest) {
			r.Spec.RoleRef = accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "cluster-admin"}
		}, devs, []string{"spec.roleRef: Forbidden: no policy allows ClusterRole cluster-admin in namespace " + tm.ns}},
		{"duration above maxDuration", func(r *accessv1alpha1.AccessRequest) {
			r.Spec.Duration = metav1.Duration{Duration: 2 * time.Hour}
		}, devs, []string{"spec.duration: Forbidden: 2h0m0s exceeds the maxDuration 1h0m0s", "ask for 1h0m0s or less"}},
		{"missing tag", func(r *accessv1alpha1.AccessRequest) { delete(r.Spec.Tags, "sensitivity") }, devs,
			[]string{`spec.tags.sensitivity: Required value: required by ApprovalPolicy "` + tm.policy + `"; allowed: low, medium, high, critical`}},
		{"disallowed tag value", func(r *accessv1alpha1.AccessRequest) { r.Spec.Tags["type"] = "permanent" }, devs,
			[]string{`spec.tags.type: Forbidden: "permanent" is not allowed`, "allowed: temporary, break-glass, recurring"}},
		{"service account in a namespace the policy does not allow", func(r *accessv1alpha1.AccessRequest) {
			r.Spec.ServiceAccount.Namespace = "kube-system"
		}, devs, []string{"spec.serviceAccount.namespace: Forbidden: service accounts of namespace kube-system may not receive access"}},
		{"requester not in requesters", func(*accessv1alpha1.AccessRequest) {}, []string{"qa"},
			[]string{"spec.requester: Forbidden: mallory may not open requests", "allowed requesters: Group payments-devs"}},
		{"missing justification", func(r *accessv1alpha1.AccessRequest) { r.Spec.Justification = "" }, devs,
			[]string{"spec.justification: Required value: required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tm.requestObject("refused")
			tc.mutate(r)
			refused(t, as(t, "mallory", tc.groups...).Create(t.Context(), r), tc.want...)
		})
	}
}

func TestStatusWrittenByTheRequesterGrantsNoAccess(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	tm.open(t, "sneaky", "alice", devs...)
	tm.waitReady(t, "sneaky", accessv1alpha1.ReasonPendingApproval)
	// Give alice what she should never have: write access to status.
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "status-writer", Namespace: tm.ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{accessv1alpha1.GroupVersion.Group},
			Resources: []string{"accessrequests/status"}, Verbs: []string{"get", "update", "patch"}}}}
	utils.Must(t, admin.Create(t.Context(), role))
	utils.Must(t, admin.Create(t.Context(), &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "status-writer", Namespace: tm.ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}}}))

	r := tm.get(t, "sneaky")
	for _, c := range []metav1.Condition{
		{Type: accessv1alpha1.ConditionApproved, Status: metav1.ConditionTrue, Reason: accessv1alpha1.ReasonApproved, Message: "trust me"},
		{Type: accessv1alpha1.ConditionGranted, Status: metav1.ConditionTrue, Reason: accessv1alpha1.ReasonGranted, Message: "trust me"},
		{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: accessv1alpha1.ReasonGranted, Message: "trust me"},
	} {
		meta.SetStatusCondition(&r.Status.Conditions, c)
	}
	r.Status.Approvals = []accessv1alpha1.ApprovalRecord{
		{Reviewer: "carol", Decision: accessv1alpha1.DecisionApprove, Tier: "security", Time: metav1.Now()},
		{Reviewer: "erin", Decision: accessv1alpha1.DecisionApprove, Tier: "security", Time: metav1.Now()},
	}
	utils.Must(t, as(t, "alice", devs...).Status().Update(t.Context(), r))

	utils.Consistently(t, 2*time.Second, func() error {
		if n := len(tm.bindings(t, "sneaky")); n != 0 {
			return fmt.Errorf("a faked status produced %d bindings", n)
		}
		return nil
	})
	tm.waitReady(t, "sneaky", accessv1alpha1.ReasonPendingApproval)
	if got := tm.get(t, "sneaky").Status.Approvals; len(got) != 0 {
		t.Errorf("faked approvals survived: %+v", got)
	}
}

func TestTrustedSubmitterOpensRequestsOnSomeonesBehalf(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t, func(p *accessv1alpha1.ApprovalPolicy) {
		p.Spec.Requesters = append(p.Spec.Requesters, accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: "alice"})
	})
	argo := as(t, argocd, "system:serviceaccounts", "system:serviceaccounts:argocd")

	r := tm.requestObject("gitops")
	r.Annotations = map[string]string{accessv1alpha1.RequestedByAnnotation: "alice"}
	utils.Must(t, argo.Create(t.Context(), r))
	got := tm.get(t, "gitops").Spec.Requester
	if got.Username != "alice" || got.Via != argocd {
		t.Errorf("requester = %+v, want alice via %s", got, argocd)
	}

	missing := tm.requestObject("gitops-anonymous")
	refused(t, argo.Create(t.Context(), missing), "access.rolegate.dev/requested-by]: Required value: required when trusted submitter")

	untrusted := tm.requestObject("on-behalf")
	untrusted.Annotations = map[string]string{accessv1alpha1.RequestedByAnnotation: "bob"}
	refused(t, as(t, "alice", devs...).Create(t.Context(), untrusted), "only a trusted submitter")

	// The submitter's own decisions do not count unless a tier lists it.
	_, err := tm.decide(t, "gitops", accessv1alpha1.DecisionApprove, argocd, "system:serviceaccounts", "system:serviceaccounts:argocd")
	refused(t, err, "(NotEligible)")
}

func TestTrustedSubmitterDecisionCountsWhereATierListsIt(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t, func(p *accessv1alpha1.ApprovalPolicy) {
		p.Spec.Approvers[1].RequiredApprovals = 1
		p.Spec.Approvers[1].Subjects = append(p.Spec.Approvers[1].Subjects, accessv1alpha1.Subject{
			Kind: accessv1alpha1.SubjectServiceAccount, Namespace: "argocd", Name: "argocd-application-controller"})
	})
	tm.open(t, "listed", "alice", devs...)
	_, err := tm.decide(t, "listed", accessv1alpha1.DecisionApprove, argocd, "system:serviceaccounts")
	utils.Must(t, err)
	tm.waitReady(t, "listed", accessv1alpha1.ReasonGranted)
}

func TestDecisionsAreImmutable(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	tm.open(t, "migrate", "alice", devs...)
	d, err := tm.decide(t, "migrate", accessv1alpha1.DecisionApprove, "carol", security...)
	utils.Must(t, err)
	d.Spec.Decision = accessv1alpha1.DecisionDeny
	refused(t, admin.Update(t.Context(), d), "immutable")
}

func TestWebhookUnreachableRefusesCreation(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	manager.Stop()
	defer func() { manager = startManager() }()
	err := as(t, "alice", devs...).Create(t.Context(), tm.requestObject("while-down"))
	if err == nil {
		t.Fatal("a request was admitted while the webhook was down (failurePolicy must be Fail)")
	}
	if !strings.Contains(err.Error(), "failed calling webhook") {
		t.Errorf("error = %v, want the API server's webhook failure", err)
	}
	_, err = tm.decide(t, "anything", accessv1alpha1.DecisionApprove, "carol", security...)
	if err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
		t.Errorf("decision while down: %v, want refused", err)
	}
}

func TestReapplyingTheSameManifestIsNotASpecChange(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t, func(p *accessv1alpha1.ApprovalPolicy) { p.Spec.Requesters = nil })
	// Written as a person writes it: "1h", not Go's "1h0m0s".
	manifest := func() *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": accessv1alpha1.GroupVersion.String(), "kind": "AccessRequest",
			"metadata": map[string]any{"name": "gitops-reapply", "namespace": tm.ns},
			"spec": map[string]any{
				"serviceAccount": map[string]any{"name": "ledger-migrator"},
				"roleRef":        map[string]any{"kind": "Role", "name": "db-migrator"},
				"duration":       "1h", "justification": "Run schema migration for CHG-1234",
				"tags": map[string]any{"type": "temporary", "sensitivity": "high", "owner": "team-ledger"},
			},
		}}
		return u
	}
	utils.Must(t, admin.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(manifest()), client.FieldOwner("gitops"), client.ForceOwnership))
	if got := tm.get(t, "gitops-reapply"); got.Spec.Requester == nil || got.Spec.Duration.Duration != time.Hour {
		t.Fatalf("spec = %+v, want a stamped requester and 1h", got.Spec)
	}
	// A GitOps tool applies the unchanged manifest again, and again.
	for range 2 {
		utils.Must(t, admin.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(manifest()), client.FieldOwner("gitops"), client.ForceOwnership))
	}
}

func TestRevokeFinalizerIsSetAtAdmission(t *testing.T) {
	utils.RequireEnvtest(t)
	tm := newTeam(t)
	// The object the API server returns from the create is what admission
	// made of it, before any controller saw it.
	r := tm.open(t, "finalized", "alice", devs...)
	if !slices.Contains(r.Finalizers, accessv1alpha1.RevokeFinalizer) {
		t.Fatalf("finalizers at creation = %v, want %s", r.Finalizers, accessv1alpha1.RevokeFinalizer)
	}
}
