package snapshot

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// The cache indexes rolegate reads through, all of them: the manager
// registers them with SetupIndexes, and tests that build a fake client
// register the same list, Indexes.

// DecisionRequestIndex indexes AccessDecisions by the request they name.
const DecisionRequestIndex = "spec.request"

// ExtendsIndex indexes AccessRequests by the request they extend; the CRD
// declares spec.extends a selectable field, so the API server filters on
// it too.
const ExtendsIndex = "spec.extends"

// ServiceAccountIndex indexes AccessRequests by the ServiceAccount they
// grant to, as <namespace>/<name>.
const ServiceAccountIndex = "spec.serviceAccount"

// DecisionPolicyIndex indexes AccessDecisions by the policy they attest.
const DecisionPolicyIndex = "spec.policy"

// AttestedPolicy is the value of DecisionPolicyIndex for an object.
func AttestedPolicy(obj client.Object) []string {
	d, ok := obj.(*accessv1alpha1.AccessDecision)
	if !ok || d.Spec.Policy == "" {
		return nil
	}
	return []string{d.Spec.Policy}
}

// DecisionRequest is the value of DecisionRequestIndex for an object.
func DecisionRequest(obj client.Object) []string {
	d, ok := obj.(*accessv1alpha1.AccessDecision)
	if !ok || d.Spec.Request == "" {
		return nil
	}
	return []string{d.Spec.Request}
}

// ExtendedRequest is the value of ExtendsIndex for an object.
func ExtendedRequest(obj client.Object) []string {
	ar, ok := obj.(*accessv1alpha1.AccessRequest)
	if !ok || ar.Spec.Extends == "" {
		return nil
	}
	return []string{ar.Spec.Extends}
}

// GrantedServiceAccount is the value of ServiceAccountIndex for an object.
func GrantedServiceAccount(obj client.Object) []string {
	ar, ok := obj.(*accessv1alpha1.AccessRequest)
	if !ok {
		return nil
	}
	return []string{policy.ServiceAccountNamespace(ar) + "/" + ar.Spec.ServiceAccount.Name}
}

// BindingRequestIndex indexes rolegate's RoleBindings by the RequestLabel
// value of the AccessRequest they carry, so that a pass finds its request's
// bindings without scanning every binding of the namespace.
const BindingRequestIndex = "metadata.labels.request"

// BindingRequest is the value of BindingRequestIndex for an object: none
// for a RoleBinding rolegate does not manage.
func BindingRequest(obj client.Object) []string {
	rb, ok := obj.(*rbacv1.RoleBinding)
	if !ok || rb.Labels[accessv1alpha1.ManagedByLabel] != accessv1alpha1.ManagedByValue {
		return nil
	}
	if v := rb.Labels[accessv1alpha1.RequestLabel]; v != "" {
		return []string{v}
	}
	return nil
}

// Index is one cache index: the kind it indexes, its field name and how
// an object's values are extracted.
type Index struct {
	Object  client.Object
	Field   string
	Extract client.IndexerFunc
}

// Indexes lists every index SetupIndexes registers, for tests that build a
// fake client (fake.ClientBuilder.WithIndex) to register the same ones.
func Indexes() []Index {
	return []Index{
		{&accessv1alpha1.AccessDecision{}, DecisionRequestIndex, DecisionRequest},
		{&accessv1alpha1.AccessDecision{}, DecisionPolicyIndex, AttestedPolicy},
		{&accessv1alpha1.AccessRequest{}, ExtendsIndex, ExtendedRequest},
		{&accessv1alpha1.AccessRequest{}, ServiceAccountIndex, GrantedServiceAccount},
		{&rbacv1.RoleBinding{}, BindingRequestIndex, BindingRequest},
	}
}

// SetupIndexes registers every index of Indexes with a manager's field
// indexer (mgr.GetFieldIndexer()); the controllers and the webhooks read
// through them.
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	for _, ix := range Indexes() {
		if err := indexer.IndexField(ctx, ix.Object, ix.Field, ix.Extract); err != nil {
			return fmt.Errorf("registering index %s: %w", ix.Field, err)
		}
	}
	return nil
}
