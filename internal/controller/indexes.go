package controller

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/internal/snapshot"
)

// DecisionRequestIndex indexes AccessDecisions by the request they name.
const DecisionRequestIndex = snapshot.DecisionRequestIndex

// ExtendsIndex indexes AccessRequests by the request they extend.
const ExtendsIndex = snapshot.ExtendsIndex

// ServiceAccountIndex indexes AccessRequests by the ServiceAccount they
// grant to, as <namespace>/<name>.
const ServiceAccountIndex = "spec.serviceAccount"

// grantedServiceAccount is the value of ServiceAccountIndex for an object.
func grantedServiceAccount(obj client.Object) []string {
	ar, ok := obj.(*accessv1alpha1.AccessRequest)
	if !ok {
		return nil
	}
	return []string{policy.ServiceAccountNamespace(ar) + "/" + ar.Spec.ServiceAccount.Name}
}

// Index is a cache index the controllers read through.
type Index struct {
	Object  client.Object
	Field   string
	Extract client.IndexerFunc
}

// Indexes lists every index SetupIndexes registers, for tests that build a
// fake client to register the same ones.
func Indexes() []Index {
	return []Index{
		{&accessv1alpha1.AccessDecision{}, DecisionRequestIndex, snapshot.DecisionRequest},
		{&accessv1alpha1.AccessRequest{}, ExtendsIndex, snapshot.ExtendedRequest},
		{&accessv1alpha1.AccessRequest{}, ServiceAccountIndex, grantedServiceAccount},
		{&accessv1alpha1.AccessDecision{}, DecisionPolicyIndex, attestedPolicy},
	}
}

// SetupIndexes registers the cache indexes the controllers and webhooks read through.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	for _, ix := range Indexes() {
		if err := mgr.GetFieldIndexer().IndexField(ctx, ix.Object, ix.Field, ix.Extract); err != nil {
			return err
		}
	}
	return nil
}
