package controller

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// DecisionRequestIndex indexes AccessDecisions by the request they name.
const DecisionRequestIndex = "spec.request"

// SetupIndexes registers the cache indexes the controllers read through.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &accessv1alpha1.AccessDecision{}, DecisionRequestIndex, decisionRequest)
}

// decisionRequest is the value of DecisionRequestIndex for an object.
func decisionRequest(obj client.Object) []string {
	d, ok := obj.(*accessv1alpha1.AccessDecision)
	if !ok || d.Spec.Request == "" {
		return nil
	}
	return []string{d.Spec.Request}
}
