// Package app builds rolegate's controller manager. The production binary,
// the development environment and the test suites all start the manager
// through NewManager, so they run the same wiring.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"github.com/prometheus/client_golang/prometheus"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/audit"
	"rolegate.dev/rolegate/internal/controller"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/internal/notify"
	rgscheme "rolegate.dev/rolegate/internal/scheme"
	"rolegate.dev/rolegate/internal/snapshot"
	webhookv1alpha1 "rolegate.dev/rolegate/internal/webhook/v1alpha1"
)

// Scheme holds every kind the manager reads or writes.
var Scheme = rgscheme.Scheme

// LeaderElectionID is the name of the lease the managers compete for.
const LeaderElectionID = "rolegate.access.rolegate.dev"

// +kubebuilder:rbac:groups="",namespace=rolegate-system,resources=secrets,verbs=get;list;watch;update
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=get;list;watch;update

// Options configure the manager.
type Options struct {
	// MetricsAddr is where metrics are served; "0" turns them off.
	MetricsAddr string
	// SecureMetrics serves metrics over HTTPS behind Kubernetes
	// authentication and authorization.
	SecureMetrics bool
	// ProbeAddr is where /healthz and /readyz are served; "0" turns them off.
	ProbeAddr string
	// LeaderElection makes only one replica act at a time.
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaseDuration           time.Duration
	// Clock is the time source for expiry, escalation and timeouts.
	Clock clock.PassiveClock
	// AuditLog receives one JSON line per state change; nil means stdout.
	AuditLog io.Writer
	// MaxConcurrentReconciles bounds parallel AccessRequest reconciles.
	MaxConcurrentReconciles int
	// RecheckInterval bounds the wait between reconciles of a live request
	// (see controller.AccessRequestReconciler.RecheckInterval).
	RecheckInterval time.Duration
	// StandingInventoryInterval is how often the manager recomputes
	// rolegate_standing_serviceaccount_bindings; 0 turns it off.
	StandingInventoryInterval time.Duration
	// Interceptor wraps the manager's client, to inject faults in tests.
	Interceptor *interceptor.Funcs
	// SkipNameValidation lets several managers run in one process (tests).
	SkipNameValidation bool
	// MetricsRegistry receives rolegate's metrics; nil means controller-runtime's
	// registry, which the metrics endpoint serves.
	MetricsRegistry prometheus.Registerer
	// Webhook configures the admission webhooks.
	Webhook WebhookOptions
	// NotificationNamespace holds the Secrets that ApprovalPolicy
	// notification targets refer to (signing keys, Slack URLs), normally the
	// manager's own namespace. Empty turns notifications off.
	NotificationNamespace string
	// NotificationBackoff overrides the retry schedule of notifications
	// (notify.DefaultBackoff), so that tests need not wait for it.
	NotificationBackoff *notify.Backoff
}

// Manager is the controller manager with the parts of rolegate that the
// reconcilers and tests share.
type Manager struct {
	ctrl.Manager
	// Notifier delivers ApprovalPolicy notifications; nil when
	// notifications are off (a nil Notifier ignores every call).
	Notifier *notify.Dispatcher
}

// WebhookOptions configure the admission webhooks and their certificate.
type WebhookOptions struct {
	// Enabled serves the admission webhooks. Without them requester and
	// reviewer identity is not stamped, and nothing can be granted safely.
	Enabled bool
	Host    string
	Port    int
	// CertDir holds tls.crt and tls.key.
	CertDir string
	// CertRotation makes the manager issue and rotate its own serving
	// certificate (kept in SecretName) and inject its CA into the webhook
	// configurations. Off when certificates come from elsewhere (cert-manager, envtest).
	CertRotation bool
	// Namespace is where the manager, its Service and its Secret live.
	Namespace   string
	SecretName  string
	ServiceName string
	// MutatingConfigName and ValidatingConfigName are the webhook
	// configurations whose caBundle the rotator keeps current.
	MutatingConfigName   string
	ValidatingConfigName string
	// RotatorControllerName names the rotator's controller; empty is
	// cert-controller's default. Several managers in one process (tests)
	// need distinct names.
	RotatorControllerName string
}

func (o Options) metricsRegistry() prometheus.Registerer {
	if o.MetricsRegistry != nil {
		return o.MetricsRegistry
	}
	return ctrlmetrics.Registry
}

// ManagedBindingSelector selects the RoleBindings rolegate manages; the
// cache holds only those, so memory does not grow with the cluster.
func ManagedBindingSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue})
}

// NewManager builds a manager with rolegate's controllers, indexes, probes
// and notifications.
func NewManager(cfg *rest.Config, o Options) (*Manager, error) {
	mgr, err := ctrl.NewManager(cfg, o.managerOptions())
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := snapshot.SetupIndexes(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return nil, fmt.Errorf("registering indexes: %w", err)
	}
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	recorder, err := setupMetrics(mgr, o, clk)
	if err != nil {
		return nil, err
	}
	if err := setupStandingInventory(mgr, o); err != nil {
		return nil, err
	}
	notifier, err := newNotifier(mgr, o, recorder)
	if err != nil {
		return nil, err
	}
	if err := setupControllers(mgr, o, clk, recorder, notifier); err != nil {
		return nil, err
	}
	if err := setupProbes(mgr, o, clk, recorder); err != nil {
		return nil, err
	}
	return &Manager{Manager: mgr, Notifier: notifier}, nil
}

// managerOptions are controller-runtime's options for o: metrics and probe
// addresses, leader election, a cache that holds only the RoleBindings
// rolegate manages, the test interceptor and the webhook server.
func (o Options) managerOptions() ctrl.Options {
	metricsOpts := metricsserver.Options{BindAddress: o.MetricsAddr, SecureServing: o.SecureMetrics}
	if o.SecureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
		if o.Webhook.Enabled {
			// Serve metrics with the webhooks' certificate (rotated or from
			// cert-manager), so that scrapers verify it against the ca.crt
			// of its Secret.
			metricsOpts.TLSOpts = []func(*tls.Config){servingCertFrom(o.Webhook.CertDir)}
		}
	}
	if o.MetricsAddr == "" {
		metricsOpts.BindAddress = "0"
	}
	probeAddr := o.ProbeAddr
	if probeAddr == "" {
		probeAddr = "0"
	}
	mopts := ctrl.Options{
		Scheme:                        Scheme,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Cache: cache.Options{
			ByObject: map[client.Object]cache.ByObject{
				&rbacv1.RoleBinding{}: {Label: ManagedBindingSelector()},
			},
			// Nothing reads managedFields from the cache (the standing
			// inventory lists around it), and they are a large part of
			// each cached request, decision and binding.
			DefaultTransform: cache.TransformStripManagedFields(),
		},
		Controller: config.Controller{SkipNameValidation: ptr.To(o.SkipNameValidation)},
	}
	if o.LeaseDuration > 0 {
		mopts.LeaseDuration = &o.LeaseDuration
		renew := o.LeaseDuration * 2 / 3
		retry := o.LeaseDuration / 5
		mopts.RenewDeadline, mopts.RetryPeriod = &renew, &retry
	}
	if o.Interceptor != nil {
		funcs := *o.Interceptor
		mopts.NewClient = func(cfg *rest.Config, co client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, co)
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(c, funcs), nil
		}
	}
	if o.Webhook.Enabled {
		mopts.WebhookServer = webhook.NewServer(webhook.Options{
			Host: o.Webhook.Host, Port: o.Webhook.Port, CertDir: o.Webhook.CertDir,
		})
	}
	return mopts
}

// servingCertFrom makes a TLS server present the certificate in dir
// (tls.crt and tls.key), read at each handshake: the rotator writes and
// renews it after the server has started.
func servingCertFrom(dir string) func(*tls.Config) {
	return func(c *tls.Config) {
		c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
			if err != nil {
				return nil, fmt.Errorf("the serving certificate is not ready yet: %w", err)
			}
			return &cert, nil
		}
	}
}

// setupMetrics registers the transition recorder and the scrape-time
// gauges, which read the manager's cache.
func setupMetrics(mgr ctrl.Manager, o Options, clk clock.PassiveClock) (*metrics.Recorder, error) {
	recorder, err := metrics.NewRecorder(o.metricsRegistry())
	if err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	if err := o.metricsRegistry().Register(metrics.NewStateCollector(mgr.GetClient(), clk)); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	if err := o.metricsRegistry().Register(metrics.NewReviewCollector(mgr.GetClient(), clk)); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	return recorder, nil
}

// setupControllers registers the AccessRequest and ApprovalPolicy
// controllers; AccessRequest transitions go to the audit log (stdout
// unless o.AuditLog says otherwise).
func setupControllers(mgr ctrl.Manager, o Options, clk clock.PassiveClock, recorder *metrics.Recorder,
	notifier *notify.Dispatcher) error {
	w := o.AuditLog
	if w == nil {
		w = os.Stdout
	}
	// One sink for both controllers, so their lines never interleave.
	sink := audit.NewJSONSink(w)
	// Every replica revokes overdue bindings with its expiry revoker until
	// it leads and its controller revokes at expiry itself
	// (docs/operations.md#high-availability-leader-loss-and-the-expiry-revoker).
	handoff := controller.NewExpiryHandoff()
	if err := (&controller.AccessRequestReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Clock:                   clk,
		Recorder:                mgr.GetEventRecorder("rolegate"),
		Audit:                   sink,
		Metrics:                 recorder,
		Notifier:                notifier,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
		RecheckInterval:         o.RecheckInterval,
		ExpiryHandoff:           handoff,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the AccessRequest controller: %w", err)
	}
	if err := mgr.Add(&controller.ExpiryRevoker{Reader: mgr.GetClient(), Writer: mgr.GetClient(), Clock: clk,
		Handoff: handoff, Log: ctrl.Log.WithName("expiry-revoker")}); err != nil {
		return fmt.Errorf("adding the expiry revoker: %w", err)
	}
	if err := (&controller.ApprovalPolicyReconciler{
		Client:   mgr.GetClient(),
		Audit:    sink,
		Notifier: notifier,
		Metrics:  recorder,
		Clock:    clk,
		Recorder: mgr.GetEventRecorder("rolegate"),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the ApprovalPolicy controller: %w", err)
	}
	return nil
}

// setupProbes adds /healthz and /readyz; with webhooks on, it registers
// them and the manager is ready once they are served.
func setupProbes(mgr ctrl.Manager, o Options, clk clock.PassiveClock, recorder *metrics.Recorder) error {
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	ready := healthz.Ping
	if o.Webhook.Enabled {
		var err error
		if ready, err = setupWebhooks(mgr, o.Webhook, clk, recorder); err != nil {
			return err
		}
	}
	if err := mgr.AddReadyzCheck("readyz", ready); err != nil {
		return fmt.Errorf("adding ready check: %w", err)
	}
	return nil
}

// newNotifier adds the notification Dispatcher to mgr, or returns nil when
// o turns notifications off. Policies are read from the cache, which holds
// them anyway; Secrets around it, so that the cache does not hold every
// Secret of the namespace. Retries run on the real clock: they wait for
// remote servers, not for the cluster's notion of time.
func newNotifier(mgr ctrl.Manager, o Options, m *metrics.Recorder) (*notify.Dispatcher, error) {
	if o.NotificationNamespace == "" {
		return nil, nil
	}
	no := notify.Options{
		Reader:       mgr.GetClient(),
		SecretReader: mgr.GetAPIReader(),
		Namespace:    o.NotificationNamespace,
		Metrics:      m,
		Logger:       ctrl.Log.WithName("notify"),
	}
	if o.NotificationBackoff != nil {
		no.Backoff = *o.NotificationBackoff
	}
	d, err := notify.New(no)
	if err != nil {
		return nil, fmt.Errorf("setting up notifications: %w", err)
	}
	if err := mgr.Add(d); err != nil {
		return nil, fmt.Errorf("adding the notification dispatcher: %w", err)
	}
	return d, nil
}

// setupWebhooks registers the admission webhooks. With certificate
// rotation they are served only once the rotator has written a
// certificate; until then the manager reports not ready.
func setupWebhooks(mgr ctrl.Manager, o WebhookOptions, clk clock.PassiveClock, m *metrics.Recorder) (healthz.Checker, error) {
	register := func() {
		webhookv1alpha1.Register(mgr.GetWebhookServer(), mgr.GetScheme(), mgr.GetClient(), mgr.GetAPIReader(), clk, m)
	}
	if !o.CertRotation {
		register()
		return mgr.GetWebhookServer().StartedChecker(), nil
	}
	certsReady := make(chan struct{})
	err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName},
		CertDir:        o.CertDir,
		CAName:         "rolegate-ca",
		CAOrganization: "rolegate",
		DNSName:        fmt.Sprintf("%s.%s.svc", o.ServiceName, o.Namespace),
		ExtraDNSNames:  []string{fmt.Sprintf("%s.%s.svc.cluster.local", o.ServiceName, o.Namespace)},
		IsReady:        certsReady,
		ControllerName: o.RotatorControllerName,
		Webhooks: []rotator.WebhookInfo{
			{Name: o.MutatingConfigName, Type: rotator.Mutating},
			{Name: o.ValidatingConfigName, Type: rotator.Validating},
		},
		// Every replica serves webhooks, so every replica needs the
		// certificate. Replicas starting together race to fill the Secret:
		// the loser's update conflicts, and the rotator retries, reads the
		// winner's CA and keeps it.
		RequireLeaderElection: false,
	})
	if err != nil {
		return nil, fmt.Errorf("setting up certificate rotation: %w", err)
	}
	// The certificate reaches this replica through the API, not a mounted
	// Secret volume that the kubelet would refresh a minute or two later.
	if err := mgr.Add(&secretCertSync{
		reader: mgr.GetAPIReader(),
		key:    types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName},
		dir:    o.CertDir, fast: 500 * time.Millisecond, slow: 30 * time.Second,
		log: ctrl.Log.WithName("webhook-cert-sync"),
	}); err != nil {
		return nil, fmt.Errorf("adding the webhook certificate sync: %w", err)
	}
	registered := make(chan struct{})
	go func() {
		<-certsReady
		register()
		close(registered)
	}()
	return func(req *http.Request) error {
		select {
		case <-registered:
			return mgr.GetWebhookServer().StartedChecker()(req)
		default:
			return errors.New("the webhook serving certificate is not ready yet")
		}
	}, nil
}
