package controller

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/snapshot"
)

// DecisionRequestIndex indexes AccessDecisions by the request they name.
const DecisionRequestIndex = snapshot.DecisionRequestIndex

// SetupIndexes registers the cache indexes the controllers and webhooks read through.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &accessv1alpha1.AccessDecision{}, DecisionRequestIndex, snapshot.DecisionRequest)
}
