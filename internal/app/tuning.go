package app

import "k8s.io/client-go/rest"

// Defaults of the manager's throughput settings (flags --kube-api-qps,
// --kube-api-burst, --max-concurrent-reconciles; Helm values
// controller.kubeAPIQPS, controller.kubeAPIBurst, controller.workers). See
// docs/operations.md#tuning and docs/performance.md for how they were chosen.
const (
	// DefaultKubeAPIQPS turns the client-side rate limit off (any value
	// <= 0 does), as controller-runtime does by default: the API server's
	// own API Priority and Fairness queues the manager with the other
	// clients of its flow schema instead. A positive value caps the
	// manager's requests per second.
	DefaultKubeAPIQPS = -1
	// DefaultKubeAPIBurst is the burst above QPS; ignored while QPS <= 0.
	DefaultKubeAPIBurst = 1000
	// DefaultMaxConcurrentReconciles is how many AccessRequests are
	// reconciled in parallel. Reconciles mostly wait on API writes, so
	// more workers than cores keep the API server busy during a clustered
	// expiry.
	DefaultMaxConcurrentReconciles = 16
)

// WithClientLimits returns a copy of cfg with the manager's client rate
// limit: qps <= 0 turns it off.
func WithClientLimits(cfg *rest.Config, qps float64, burst int) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = float32(qps), burst
	if qps <= 0 {
		// client-go treats QPS 0 as "use the default of 5": make off explicit.
		c.QPS, c.RateLimiter = -1, nil
	}
	return c
}
