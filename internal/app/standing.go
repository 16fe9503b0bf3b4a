package app

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"rolegate.dev/rolegate/internal/inventory"
	"rolegate.dev/rolegate/internal/inventory/source"
	"rolegate.dev/rolegate/internal/metrics"
)

// DefaultStandingInventoryInterval is how often the manager recomputes
// rolegate_standing_serviceaccount_bindings.
const DefaultStandingInventoryInterval = 5 * time.Minute

// skipSecretsReason is why the manager does not list Secrets: exposure
// through legacy token Secrets is then judged unknown, that is exposed.
const skipSecretsReason = "not read by the manager: listing Secrets, even their metadata, needs list on secrets, " +
	"which would let it read every Secret's data"

// The standing-access inventory lists, uncached and page by page, what
// inventory.Build reads. Secrets are left out on purpose (skipSecretsReason).
// +kubebuilder:rbac:groups="",resources=serviceaccounts;pods,verbs=list
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;clusterroles;rolebindings;clusterrolebindings,verbs=list

// standingInventory recomputes the standing-access gauge on an interval.
// It reads through the API reader, not the cache, so the manager holds no
// copy of every pod and binding between runs; it runs on the leader only.
type standingInventory struct {
	reader   client.Reader
	interval time.Duration
	gauge    *metrics.StandingBindings
}

// NeedLeaderElection: one replica computes the gauge.
func (s *standingInventory) NeedLeaderElection() bool { return true }

// Start computes the gauge at once and then every interval until ctx ends.
// A failed run is logged and retried at the next tick; the gauge keeps its
// last value.
func (s *standingInventory) Start(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if err := s.run(ctx); err != nil && ctx.Err() == nil {
			logf.FromContext(ctx).Error(err, "Computing the standing service-account access failed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *standingInventory) run(ctx context.Context) error {
	in, err := source.Read(ctx, s.reader, "", source.Options{SkipSecrets: skipSecretsReason})
	if err != nil {
		return err
	}
	rep, err := inventory.Build(in, inventory.Options{})
	if err != nil {
		return err
	}
	s.gauge.Set(rep.BindingsBySeverity())
	for _, u := range rep.Unreadable {
		if u.Resource != inventory.ResourceSecrets {
			logf.FromContext(ctx).Info("Standing-access inventory is incomplete", "unreadable", u.String())
		}
	}
	return nil
}

// setupStandingInventory registers the gauge and adds the inventory when
// o.StandingInventoryInterval is positive.
func setupStandingInventory(mgr ctrl.Manager, o Options) error {
	if o.StandingInventoryInterval <= 0 {
		return nil
	}
	gauge, err := metrics.NewStandingBindings(o.metricsRegistry())
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	return mgr.Add(&standingInventory{reader: mgr.GetAPIReader(), interval: o.StandingInventoryInterval, gauge: gauge})
}
