package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/app"
)

const (
	ns          = "bench"
	clusterRole = "bench-view"
	role        = "bench-migrator"
	sa          = "worker"
	requester   = "alice"
	reviewer    = "carol"
)

// bench holds what the phases share.
type bench struct {
	ctx         context.Context
	env         *envtest.Environment
	cfg         *rest.Config
	sizes       []int
	sweep       []int
	conc        int
	admin       client.Client
	asRequester client.Client
	asReviewer  client.Client
	obs         *observer
	writes      *writes
	requests    *apiRequests
	heap        *heapSampler
	created     sync.Map // name -> time.Time just before Create
	// granted is the status of an auto grant of the grant phase, which the
	// ceiling writes for its requests.
	granted *accessv1alpha1.AccessRequestStatus
	res     Result
}

func newBench(ctx context.Context, env *envtest.Environment, cfg *rest.Config, sizes, sweep []int) *bench {
	b := &bench{ctx: ctx, env: env, cfg: cfg, sizes: sizes, sweep: sweep, conc: *flagConc,
		obs: &observer{granted: map[string]time.Time{}, expiresAt: map[string]time.Time{}, gone: map[string]time.Time{},
			recorded: map[string]time.Time{}, released: map[string]time.Time{}},
		writes:   &writes{m: map[string]int64{}, d: map[string]time.Duration{}},
		requests: &apiRequests{m: map[string]int64{}}, heap: &heapSampler{}}
	b.res = Result{
		Config: Config{N: *flagN, Concurrency: b.conc, Workers: *flagWorkers, QPS: *flagQPS, Burst: *flagBurst, Clustered: sizes,
			CeilingSweep: sweep},
		Server: serverLimits(env), Expiry: Expiry{Clustered: map[string]*Clustered{}}, Targets: map[string]bool{},
	}
	return b
}

// run is the whole benchmark, phase by phase.
func (b *bench) run() Result {
	hctx, stop := context.WithCancel(b.ctx)
	defer stop()
	go b.heap.run(hctx)
	b.setupWorld()
	b.startObserver(hctx)
	mgr := b.startRolegate()
	b.warmUp()
	b.grantPhases()
	for _, n := range b.sizes {
		b.clusteredExpiry(n)
	}
	if *flagSustain > 0 {
		b.sustainedLoad(*flagSustain, *flagRate, *flagLife)
	}
	if *flagUnrelated > 0 {
		b.unrelatedBindings(*flagUnrelated)
	}
	mgr.stop()
	logf("rolegate manager stopped")
	b.ceiling()
	b.res.Memory.RSSPeakMB = procStatus("VmHWM")
	b.res.Memory.HeapInusePeakMB = float64(b.heap.peak.Load()) / (1 << 20)
	b.judge()
	return b.res
}

// serverLimits reports the envtest kube-apiserver's concurrency limits and
// the machine's cores.
func serverLimits(env *envtest.Environment) Server {
	s := Server{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		MaxRequestsInflight: "default (400)", MaxMutatingRequestsInflight: "default (200)",
		PriorityAndFairness: "default (on: APF divides max-requests-inflight + max-mutating-requests-inflight among priority levels)"}
	for _, a := range env.ControlPlane.GetAPIServer().Configure().AsStrings(nil) {
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		switch k {
		case "max-requests-inflight":
			s.MaxRequestsInflight = v
		case "max-mutating-requests-inflight":
			s.MaxMutatingRequestsInflight = v
		case "enable-priority-and-fairness":
			s.PriorityAndFairness = v
		}
	}
	return s
}

// unlimited is cfg without a client-side rate limit.
func unlimited(cfg *rest.Config) *rest.Config { return app.WithClientLimits(cfg, -1, 0) }

func (b *bench) as(user string, groups ...string) client.Client {
	c := unlimited(b.cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	cl, err := client.New(c, client.Options{Scheme: app.Scheme})
	must(err, "creating a client")
	return cl
}

// setupWorld creates one namespace and one policy with an auto-approved
// ClusterRole and a Role that security-oncall approves once. Impersonated
// users carry system:masters so no RBAC setup is needed; the webhooks still
// stamp their username and groups.
func (b *bench) setupWorld() {
	var err error
	b.admin, err = client.New(unlimited(b.cfg), client.Options{Scheme: app.Scheme})
	must(err, "creating the admin client")
	b.asRequester = b.as(requester, "system:masters", "bench-devs")
	b.asReviewer = b.as(reviewer, "system:masters", "security-oncall")
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"bench": "yes"}}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: role, Namespace: ns}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: clusterRole}},
		&accessv1alpha1.ApprovalPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: ns},
			Spec: accessv1alpha1.ApprovalPolicySpec{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"bench": "yes"}},
				Entitlements: []accessv1alpha1.Entitlement{
					{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: clusterRole},
						MaxDuration: metav1.Duration{Duration: 8 * time.Hour}, AutoApprove: true},
					{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: role},
						MaxDuration: metav1.Duration{Duration: 8 * time.Hour}},
				},
				Approvers: []accessv1alpha1.ApproverTier{{Name: "security", RequiredApprovals: 1,
					Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "security-oncall"}}}},
			},
		},
	} {
		must(b.admin.Create(b.ctx, o), fmt.Sprintf("creating %T", o))
	}
}

// startObserver starts the bench's own informers (RoleBindings: managed
// ones only), which time grants and revocations.
func (b *bench) startObserver(ctx context.Context) {
	oc, err := cache.New(unlimited(b.cfg), cache.Options{Scheme: app.Scheme,
		// Like the manager's cache, without managedFields.
		DefaultNamespaces: map[string]cache.Config{ns: {}}, DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{&rbacv1.RoleBinding{}: {Label: app.ManagedBindingSelector()}}})
	must(err, "creating the observer cache")
	ari, err := oc.GetInformer(b.ctx, &accessv1alpha1.AccessRequest{})
	must(err, "AccessRequest informer")
	_, err = ari.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: b.obs.onRequest, UpdateFunc: func(_, o any) { b.obs.onRequest(o) }})
	must(err, "AccessRequest handler")
	rbi, err := oc.GetInformer(b.ctx, &rbacv1.RoleBinding{})
	must(err, "RoleBinding informer")
	_, err = rbi.AddEventHandler(toolscache.ResourceEventHandlerFuncs{DeleteFunc: b.obs.onBindingDelete})
	must(err, "RoleBinding handler")
	go func() { _ = oc.Start(ctx) }()
	if !oc.WaitForCacheSync(b.ctx) {
		must(fmt.Errorf("not synced"), "observer cache")
	}
}

// startRolegate starts the real manager, webhooks on, its client counted,
// with the production defaults unless flags say otherwise.
func (b *bench) startRolegate() *running {
	wh := b.env.WebhookInstallOptions
	cfg := app.WithClientLimits(b.cfg, *flagQPS, *flagBurst)
	cfg.Wrap(b.requests.wrap)
	mgr, err := app.NewManager(cfg, app.Options{
		MetricsAddr: "0", ProbeAddr: "0", AuditLog: discard{}, MetricsRegistry: prometheus.NewRegistry(),
		SkipNameValidation: true, MaxConcurrentReconciles: *flagWorkers, RecheckInterval: *flagRecheck,
		Interceptor: b.writes.funcs(),
		Webhook:     app.WebhookOptions{Enabled: true, Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir},
	})
	must(err, "creating the manager")
	rm := startMgr(mgr)
	if !mgr.GetCache().WaitForCacheSync(b.ctx) {
		must(fmt.Errorf("not synced"), "manager cache")
	}
	must(waitForWebhooks(b.ctx, b.admin), "webhooks")
	logf("manager up (workers %d, qps %.0f, burst %d; load concurrency %d)", *flagWorkers, *flagQPS, *flagBurst, b.conc)
	return rm
}

type running struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *running) stop() { r.cancel(); <-r.done }

func startMgr(mgr ctrl.Manager) *running {
	c, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := mgr.Start(c); err != nil {
			logf("manager stopped: %v", err)
		}
	}()
	return r
}

func waitForWebhooks(ctx context.Context, admin client.Client) error {
	deadline := time.Now().Add(60 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		d := &accessv1alpha1.AccessDecision{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: metav1.NamespaceDefault},
			Spec:       accessv1alpha1.AccessDecisionSpec{Request: "probe", Decision: accessv1alpha1.DecisionApprove},
		}
		err = admin.Create(ctx, d, client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), accessv1alpha1.ReasonRequestNotFound) {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the admission webhooks did not come up: %w", err)
}

func newRequest(name string, auto bool, d time.Duration) *accessv1alpha1.AccessRequest {
	r := &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: sa},
			RoleRef:        accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: role},
			Duration:       metav1.Duration{Duration: d},
			Justification:  "benchmark",
		},
	}
	if auto {
		r.Spec.RoleRef = accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: clusterRole}
	}
	return r
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%05d", prefix, i)
	}
	return out
}
