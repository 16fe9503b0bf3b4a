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
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// Snapshot is the world around one AccessRequest.
type Snapshot struct {
	Policies        []accessv1alpha1.ApprovalPolicy
	NamespaceLabels map[string]string
	// NamespaceDeleting is true when the request's namespace is being deleted.
	NamespaceDeleting bool
	Decisions         []accessv1alpha1.AccessDecision
	RoleExists        bool
	// RoleRisks are the requested role's persistence risks.
	RoleRisks []policy.Risk
	// Extends is the request named by spec.extends; nil if none or missing.
	Extends *accessv1alpha1.AccessRequest
}

// Read gathers the policies, the namespace's labels, the request's decisions
// (through DecisionRequestIndex), the request it extends, and whether the requested role exists and
// what persistence risks its rules carry (see RoleRules). The reader must
// serve DecisionRequestIndex and full reads of Roles and ClusterRoles, as
// the manager's cache does.
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
	s.NamespaceDeleting = !ns.DeletionTimestamp.IsZero()
	decisions, err := Decisions(ctx, c, ar.Namespace, ar.Name)
	if err != nil {
		return nil, err
	}
	s.Decisions = decisions
	rules, found, err := RoleRules(ctx, c, ar.Spec.RoleRef, ar.Namespace)
	if err != nil {
		return nil, err
	}
	s.RoleExists = found
	s.RoleRisks = policy.PersistenceRisks(rules)
	if s.Extends, err = extended(ctx, c, ar); err != nil {
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
// ClusterRole exists.
func RoleExists(ctx context.Context, c client.Reader, ar *accessv1alpha1.AccessRequest) (bool, error) {
	return RoleRefExists(ctx, c, ar.Spec.RoleRef, ar.Namespace)
}

// RoleRefExists reports whether a ClusterRole, or a Role in namespace,
// exists. It reads the full object, as RoleRules does, so that a cache
// holds one informer per kind.
func RoleRefExists(ctx context.Context, c client.Reader, ref accessv1alpha1.RoleRef, namespace string) (bool, error) {
	_, found, err := getRole(ctx, c, ref, namespace)
	return found, err
}

// RoleRules returns the rules of a ClusterRole, or of a Role in namespace,
// and whether the role exists. For a ClusterRole with an aggregationRule
// they are the union of its own rules and the rules of every ClusterRole
// that any of its clusterRoleSelectors matches, followed recursively: a
// cluster's aggregation controller writes those rules into the ClusterRole,
// and a reader that runs none (envtest, or the ClusterRole applied a moment
// ago) must judge it the same. The reader must serve full reads of Roles
// and lists of ClusterRoles by label.
func RoleRules(ctx context.Context, c client.Reader, ref accessv1alpha1.RoleRef, namespace string) ([]rbacv1.PolicyRule, bool, error) {
	obj, found, err := getRole(ctx, c, ref, namespace)
	if err != nil || !found {
		return nil, found, err
	}
	cr, ok := obj.(*rbacv1.ClusterRole)
	if !ok {
		return obj.(*rbacv1.Role).Rules, true, nil
	}
	rules, err := policy.AggregateRules(cr, func(sel labels.Selector) ([]rbacv1.ClusterRole, error) {
		var list rbacv1.ClusterRoleList
		if err := c.List(ctx, &list, client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return nil, fmt.Errorf("listing the ClusterRoles that %s aggregates: %w", ref, err)
		}
		return list.Items, nil
	})
	if err != nil {
		return nil, true, err
	}
	return rules, true, nil
}

func getRole(ctx context.Context, c client.Reader, ref accessv1alpha1.RoleRef, namespace string) (client.Object, bool, error) {
	var obj client.Object
	key := types.NamespacedName{Name: ref.Name}
	if ref.Kind == accessv1alpha1.RoleKindClusterRole {
		obj = &rbacv1.ClusterRole{}
	} else {
		obj = &rbacv1.Role{}
		key.Namespace = namespace
	}
	err := c.Get(ctx, key, obj)
	switch {
	case err == nil:
		return obj, true, nil
	case apierrors.IsNotFound(err):
		return nil, false, nil
	default:
		return nil, false, fmt.Errorf("reading %s: %w", ref, err)
	}
}

// Input turns the snapshot into policy.Evaluate's input. The request keeps
// the policy it was routed to (status.policy) while that policy allows it.
func (s *Snapshot) Input(ar *accessv1alpha1.AccessRequest, grantedAt, now time.Time) policy.Input {
	return policy.Input{
		Request: ar, Policies: s.Policies, NamespaceLabels: s.NamespaceLabels, Decisions: s.Decisions,
		RoleExists: s.RoleExists, RoleRisks: s.RoleRisks, GrantedAt: grantedAt, Now: now, Extends: s.Extends,
		CurrentPolicy: ar.Status.Policy, NamespaceDeleting: s.NamespaceDeleting,
	}
}
