package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/scheme"
	"rolegate.dev/rolegate/internal/snapshot"
)

// The CLI fixture: namespace payments under ApprovalPolicy payments, whose
// app-owners tier (alice, payments-owners) decides up to medium and hands
// over to security (security-oncall) after 30m.

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func paymentsPolicy() *accessv1alpha1.ApprovalPolicy {
	return &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "payments"},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}},
			Requesters:        []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "payments-devs"}},
			RequiredTags: []accessv1alpha1.RequiredTag{
				{Key: "ticket"},
				{Key: "type", Values: []string{"temporary", "break-glass"}},
			},
			Entitlements: []accessv1alpha1.Entitlement{
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "view"},
					MaxDuration: metav1.Duration{Duration: 8 * time.Hour}, Sensitivity: accessv1alpha1.SensitivityLow, AutoApprove: true},
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "edit"},
					MaxDuration: metav1.Duration{Duration: 2 * time.Hour}, Sensitivity: accessv1alpha1.SensitivityMedium},
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
					MaxDuration: metav1.Duration{Duration: time.Hour}, Sensitivity: accessv1alpha1.SensitivityHigh},
			},
			Approvers: []accessv1alpha1.ApproverTier{
				{Name: "app-owners", MaxSensitivity: accessv1alpha1.SensitivityMedium, EscalateAfter: dur(30 * time.Minute),
					Subjects: []accessv1alpha1.Subject{
						{Kind: accessv1alpha1.SubjectUser, Name: "alice"}, {Kind: accessv1alpha1.SubjectGroup, Name: "payments-owners"}}},
				{Name: "security", Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "security-oncall"}}},
			},
			PendingTimeout: dur(72 * time.Hour),
		},
	}
}

func pendingConditions() []metav1.Condition {
	return []metav1.Condition{
		condition(accessv1alpha1.ConditionApproved, metav1.ConditionUnknown, accessv1alpha1.ReasonPendingApproval),
		{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: accessv1alpha1.ReasonPendingApproval,
			Message: "waiting for approval", LastTransitionTime: metav1.NewTime(now)},
	}
}

// cliRequest is a valid request of payments opened by requester age ago.
func cliRequest(name, requester, role string, kind accessv1alpha1.RoleKind, age time.Duration) *accessv1alpha1.AccessRequest {
	return &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: name, CreationTimestamp: metav1.NewTime(now.Add(-age))},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "payments-api"},
			RoleRef:        accessv1alpha1.RoleRef{Kind: kind, Name: role},
			Duration:       metav1.Duration{Duration: time.Hour},
			Justification:  "CHG-1",
			Tags:           map[string]string{"ticket": "CHG-1", "type": "temporary"},
			Requester: &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{
				Username: requester, Groups: []string{"payments-devs"}}},
		},
		Status: accessv1alpha1.AccessRequestStatus{Policy: "payments", Conditions: pendingConditions()},
	}
}

func decision(name, request, reviewer string, d accessv1alpha1.DecisionType, age time.Duration, groups ...string) *accessv1alpha1.AccessDecision {
	return &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: name, CreationTimestamp: metav1.NewTime(now.Add(-age))},
		Spec: accessv1alpha1.AccessDecisionSpec{Request: request, Decision: d,
			Reviewer: &accessv1alpha1.UserInfo{Username: reviewer, Groups: groups}},
	}
}

func cliObjects() []client.Object {
	granted := cliRequest("view-erin", "erin", "view", accessv1alpha1.RoleKindClusterRole, 20*time.Minute)
	granted.Status.Conditions = []metav1.Condition{{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: accessv1alpha1.ReasonGranted, Message: "granted", LastTransitionTime: metav1.NewTime(now)}}
	granted.Status.GrantedAt = &metav1.Time{Time: now.Add(-20 * time.Minute)}
	granted.Status.ExpiresAt = &metav1.Time{Time: now.Add(40 * time.Minute)}
	granted.Status.RoleBinding = "rolegate-view-erin"
	granted.Status.EffectiveSensitivity = accessv1alpha1.SensitivityLow
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments", Labels: map[string]string{"team": "payments"}}},
		paymentsPolicy(),
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "edit"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "db-migrator"}},
		// app-owners decide; escalates in 20m.
		cliRequest("edit-carol", "carol", "edit", accessv1alpha1.RoleKindClusterRole, 10*time.Minute),
		// high: security decides.
		cliRequest("migrate-dave", "dave", "db-migrator", accessv1alpha1.RoleKindRole, time.Hour),
		// bob's own request, older than the others.
		cliRequest("edit-bob", "bob", "edit", accessv1alpha1.RoleKindClusterRole, 2*time.Hour),
		granted,
		decision("edit-carol-x1", "edit-carol", "mallory", accessv1alpha1.DecisionApprove, 5*time.Minute),
	}
}

// user is who SelfSubjectReview reports; nil means it is forbidden.
type user struct {
	name   string
	groups []string
}

// fakeCluster is a fake API server holding objs, filtering by the fields
// the CRDs declare selectable.
func fakeCluster(objs ...client.Object) *fake.ClientBuilder {
	return fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objs...).
		WithIndex(&accessv1alpha1.AccessDecision{}, snapshot.DecisionRequestIndex, snapshot.DecisionRequest).
		WithIndex(&accessv1alpha1.AccessRequest{}, snapshot.ExtendsIndex, snapshot.ExtendedRequest).
		// The API server selects every kind by metadata.name; the fake needs an index.
		WithIndex(&accessv1alpha1.AccessRequest{}, "metadata.name", func(o client.Object) []string { return []string{o.GetName()} })
}

// cliClient is a fake cluster with the CLI fixture. SelfSubjectReview
// answers with the user; createErr, when set, refuses every other create.
func cliClient(u *user, createErr error, extra ...client.Object) client.WithWatch {
	return watchedClient(u, createErr, nil, extra...)
}

// watchedClient is cliClient that also calls onWatch, when set, once each
// watch is established.
func watchedClient(u *user, createErr error, onWatch func(), extra ...client.Object) client.WithWatch {
	return clusterClient(u, createErr, onWatch, append(cliObjects(), extra...))
}

// clusterClient is a fake cluster holding objs instead of the CLI fixture,
// answering as watchedClient does.
func clusterClient(u *user, createErr error, onWatch func(), objs []client.Object) client.WithWatch {
	return fakeCluster(objs...).
		WithInterceptorFuncs(interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				if review, ok := obj.(*authenticationv1.SelfSubjectReview); ok {
					if u == nil {
						return apierrors.NewForbidden(schema.GroupResource{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"},
							"", errForbidden)
					}
					review.Status.UserInfo = authenticationv1.UserInfo{Username: u.name, Groups: u.groups}
					return nil
				}
				if createErr != nil {
					return createErr
				}
				return c.Create(ctx, obj, opts...)
			},
			Watch: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
				w, err := c.Watch(ctx, list, opts...)
				if err == nil && onWatch != nil {
					onWatch()
				}
				return w, err
			},
		}).Build()
}

var errForbidden = errors.New("not permitted")

// runCLI runs the root command against the client with -n payments.
func runCLI(t *testing.T, c client.Client, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}, rootOptions{
		now:       clock,
		newClient: func(*rest.Config) (client.Client, error) { return c, nil },
	})
	root.SetArgs(append([]string{"--kubeconfig", kubeconfig(t), "-n", "payments"}, args...))
	err := root.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}
