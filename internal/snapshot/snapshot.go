// Package snapshot reads from the cluster what rolegate's decision logic
// needs about one AccessRequest, so that the controller and the admission
// webhooks judge a request from the same facts.
package snapshot

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// DecisionRequestIndex indexes AccessDecisions by the request they name.
const DecisionRequestIndex = "spec.request"

// DecisionRequest is the value of DecisionRequestIndex for an object.
func DecisionRequest(obj client.Object) []string {
	d, ok := obj.(*accessv1alpha1.AccessDecision)
	if !ok || d.Spec.Request == "" {
		return nil
	}
	return []string{d.Spec.Request}
}

// Snapshot is the world around one AccessRequest.
type Snapshot struct {
	Policies        []accessv1alpha1.ApprovalPolicy
	NamespaceLabels map[string]string
	Decisions       []accessv1alpha1.AccessDecision
	RoleExists      bool
	// RoleRisks are the requested role's persistence risks.
	RoleRisks []policy.Risk
}

// Read gathers the policies, the namespace's labels, the request's decisions
// (through DecisionRequestIndex) and whether the requested role exists. The
// reader must serve DecisionRequestIndex and metadata-only reads of Roles
// and ClusterRoles, as the manager's cache does.
func Read(ctx context.Context, c client.Reader, ar *accessv1alpha1.AccessRequest) (*Snapshot, error) {
	s := &Snapshot{}
	var policies accessv1alpha1.ApprovalPolicyList
	if err := c.List(ctx, &policies); err != nil {
		return nil, fmt.Errorf("listing ApprovalPolicies: %w", err)
	}
	s.Policies = policies.Items
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, types.NamespacedName{Name: ar.Namespace}, ns); err != nil {
		return nil, fmt.Errorf("reading namespace %s: %w", ar.Namespace, err)
	}
	s.NamespaceLabels = ns.Labels
	decisions, err := Decisions(ctx, c, ar.Namespace, ar.Name)
	if err != nil {
		return nil, err
	}
	s.Decisions = decisions
	if s.RoleExists, err = RoleExists(ctx, c, ar); err != nil {
		return nil, err
	}
	return s, nil
}

// Decisions lists the AccessDecisions naming a request.
func Decisions(ctx context.Context, c client.Reader, namespace, request string) ([]accessv1alpha1.AccessDecision, error) {
	var list accessv1alpha1.AccessDecisionList
	if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{DecisionRequestIndex: request}); err != nil {
		return nil, fmt.Errorf("listing AccessDecisions: %w", err)
	}
	return list.Items, nil
}

// RoleExists reports whether the request's Role (in its namespace) or
// ClusterRole exists, reading metadata only.
func RoleExists(ctx context.Context, c client.Reader, ar *accessv1alpha1.AccessRequest) (bool, error) {
	return RoleRefExists(ctx, c, ar.Spec.RoleRef, ar.Namespace)
}

// RoleRefExists reports whether a ClusterRole, or a Role in namespace,
// exists, reading metadata only.
func RoleRefExists(ctx context.Context, c client.Reader, ref accessv1alpha1.RoleRef, namespace string) (bool, error) {
	obj := &metav1.PartialObjectMetadata{}
	key := types.NamespacedName{Name: ref.Name}
	if ref.Kind == accessv1alpha1.RoleKindClusterRole {
		obj.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind("ClusterRole"))
	} else {
		obj.SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind("Role"))
		key.Namespace = namespace
	}
	err := c.Get(ctx, key, obj)
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("reading %s: %w", ref, err)
	}
}

// Input turns the snapshot into policy.Evaluate's input.
func (s *Snapshot) Input(ar *accessv1alpha1.AccessRequest, grantedAt, now time.Time) policy.Input {
	return policy.Input{
		Request: ar, Policies: s.Policies, NamespaceLabels: s.NamespaceLabels, Decisions: s.Decisions,
		RoleExists: s.RoleExists, RoleRisks: s.RoleRisks, GrantedAt: grantedAt, Now: now,
	}
}
