package utils

import (
	"context"
	"fmt"
	"os"

	"k8s.io/client-go/rest"

	"rolegate.dev/rolegate/internal/app"
)

// Manager is a real rolegate manager running in the test process.
type Manager struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// StartManager builds a manager with app.NewManager and runs it until Stop.
// Several managers may run in one process: set SkipNameValidation and a
// MetricsRegistry of their own in o.
func StartManager(cfg *rest.Config, o app.Options) (*Manager, error) {
	mgr, err := app.NewManager(cfg, o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped:", err)
		}
	}()
	return m, nil
}

// Stop stops the manager and waits until it has.
func (m *Manager) Stop() {
	m.cancel()
	<-m.done
}
