// Command manager runs the rolegate operator.
package main

import (
	"flag"
	"fmt"
	"os"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/internal/controller"
	"rolegate.dev/rolegate/internal/version"
)

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

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
	flag.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", app.DefaultMaxConcurrentReconciles,
		"AccessRequests reconciled in parallel (see docs/operations.md#tuning).")
	flag.DurationVar(&o.RecheckInterval, "recheck-interval", controller.DefaultRecheckInterval,
		"Longest wait between reconciles of a live request; bounds how late a grant ends if the wall clock jumps.")
	flag.DurationVar(&o.StandingInventoryInterval, "standing-inventory-interval", app.DefaultStandingInventoryInterval,
		"How often to recompute rolegate_standing_serviceaccount_bindings; 0 turns it off.")
	flag.Float64Var(&qps, "kube-api-qps", app.DefaultKubeAPIQPS,
		"Client-side limit of queries per second to the API server; 0 or less leaves it to the API server's priority and fairness.")
	flag.IntVar(&burst, "kube-api-burst", app.DefaultKubeAPIBurst, "Burst of queries above --kube-api-qps when it is positive.")
	w := &o.Webhook
	flag.BoolVar(&w.Enabled, "enable-webhooks", true,
		"Serve the admission webhooks that record who asked and who decided. Turning them off is for development only.")
	flag.IntVar(&w.Port, "webhook-port", 9443, "Port the admission webhooks listen on.")
	flag.StringVar(&w.CertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs",
		"Directory holding the webhooks' tls.crt and tls.key.")
	flag.BoolVar(&w.CertRotation, "webhook-cert-rotation", true,
		"Issue and rotate the webhook serving certificate in-process and inject its CA into the webhook configurations; "+
			"turn off when cert-manager provides the certificate.")
	flag.StringVar(&w.Namespace, "namespace", envOr("POD_NAMESPACE", "rolegate-system"),
		"Namespace of the manager, its webhook Service and certificate Secret.")
	flag.StringVar(&w.SecretName, "webhook-secret-name", "rolegate-webhook-server-cert", "Secret holding the rotated serving certificate.")
	flag.StringVar(&w.ServiceName, "webhook-service-name", "rolegate-webhook-service", "Service in front of the webhooks.")
	flag.StringVar(&w.MutatingConfigName, "mutating-webhook-configuration", "rolegate-mutating-webhook-configuration",
		"MutatingWebhookConfiguration whose caBundle is kept current.")
	flag.StringVar(&w.ValidatingConfigName, "validating-webhook-configuration", "rolegate-validating-webhook-configuration",
		"ValidatingWebhookConfiguration whose caBundle is kept current.")
	flag.StringVar(&o.NotificationNamespace, "notification-namespace", envOr("POD_NAMESPACE", "rolegate-system"),
		"Namespace of the Secrets that ApprovalPolicy notification targets refer to (signing keys, Slack webhook URLs); "+
			"the manager needs get on Secrets there. Empty turns notifications off.")
	printVersion := flag.Bool("version", false, "Print the release version and commit, then exit.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if *printVersion {
		fmt.Println("manager " + version.String())
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	v, commit := version.Get()
	log.Info("rolegate manager", "version", v, "commit", commit)

	if !w.Enabled {
		log.Info("Admission webhooks are disabled: requester and reviewer identity is not verified; do not use this in production")
	}
	if o.NotificationNamespace == "" {
		log.Info("Notifications are disabled: ApprovalPolicy spec.notify targets are not told about requests")
	}
	mgr, err := app.NewManager(app.WithClientLimits(ctrl.GetConfigOrDie(), qps, burst), o)
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
