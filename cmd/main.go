// Command manager runs the rolegate operator.
package main

import (
	"flag"
	"os"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"rolegate.dev/rolegate/internal/app"
)

func main() {
	var o app.Options
	var qps float64
	var burst int
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", "0",
		"Address the metrics endpoint binds to, for example :8443 (HTTPS) or :8080 (HTTP); 0 disables it.")
	flag.BoolVar(&o.SecureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS, authenticated and authorized through the Kubernetes API.")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address the health and readiness probes bind to.")
	flag.BoolVar(&o.LeaderElection, "leader-elect", false, "Elect a leader so that only one replica acts at a time.")
	flag.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "AccessRequests reconciled in parallel.")
	flag.Float64Var(&qps, "kube-api-qps", 50, "Queries per second to the API server.")
	flag.IntVar(&burst, "kube-api-burst", 100, "Burst of queries to the API server.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	cfg := ctrl.GetConfigOrDie()
	cfg.QPS, cfg.Burst = float32(qps), burst
	mgr, err := app.NewManager(cfg, o)
	if err != nil {
		log.Error(err, "Failed to set up the manager")
		os.Exit(1)
	}
	log.Info("Starting manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Manager stopped with an error")
		os.Exit(1)
	}
}
