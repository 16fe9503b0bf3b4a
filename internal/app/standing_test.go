package app_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/test/utils"
)

// gaugeSeries is the number of series of the standing-access gauge.
func gaugeSeries(t *testing.T, reg prometheus.Gatherer) int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == metrics.StandingServiceAccountBindings {
			return len(f.GetMetric())
		}
	}
	return 0
}

// The manager computes the standing-access gauge when the interval is set,
// through its API reader and the RBAC it has; with 0 it does not register it.
func TestManagerComputesStandingAccess(t *testing.T) {
	utils.RequireEnvtest(t)
	for _, tc := range []struct {
		interval time.Duration
		want     int
	}{{0, 0}, {time.Hour, 5}} {
		reg := prometheus.NewRegistry()
		mgr, err := app.NewManager(cfg, app.Options{SkipNameValidation: true, MetricsRegistry: reg, AuditLog: io.Discard,
			StandingInventoryInterval: tc.interval})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- mgr.Start(ctx) }()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			t.Fatal("the manager's cache did not sync")
		}
		// The first run starts with the manager; wait for it (the deadline
		// only bounds a broken run, it measures nothing).
		got := 0
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if got = gaugeSeries(t, reg); got == tc.want && tc.want > 0 {
				break
			}
			if tc.want == 0 {
				break
			}
		}
		if tc.interval == 0 {
			// Not registered: registering it again succeeds.
			if _, err := metrics.NewStandingBindings(reg); err != nil {
				t.Errorf("interval 0 registered the gauge: %v", err)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager stopped: %v", err)
		}
		if got != tc.want {
			t.Errorf("interval %s: %d series of %s, want %d (one per severity)",
				tc.interval, got, metrics.StandingServiceAccountBindings, tc.want)
		}
	}
}
