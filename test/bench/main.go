// Command bench measures rolegate's real manager (webhooks on) against a
// local envtest API server, and compares it with the API server's own
// ceiling for the same writes. See docs/performance.md.
//
//	KUBEBUILDER_ASSETS=... go run ./test/bench -n 2000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/internal/controller"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/internal/snapshot"
	webhookv1alpha1 "rolegate.dev/rolegate/internal/webhook/v1alpha1"
	"rolegate.dev/rolegate/test/utils"
)

const (
	ns          = "bench"
	clusterRole = "bench-view"
	role        = "bench-migrator"
	sa          = "worker"
	requester   = "alice"
	reviewer    = "carol"
	loadQPS     = 10000 // load-generating clients are not the bottleneck
)

var (
	flagN         = flag.Int("n", 2000, "AccessRequests in the grant phase (half auto-approved, half human-approved)")
	flagConc      = flag.Int("concurrency", 4, "MaxConcurrentReconciles, and the number of load goroutines")
	flagQPS       = flag.Float64("qps", 200, "manager client QPS")
	flagBurst     = flag.Int("burst", 400, "manager client burst")
	flagOut       = flag.String("out", "bench-result.json", "JSON result file")
	flagUnrelated = flag.Int("unrelated", 0, "unrelated RoleBindings to create for the cache-scoping check (0 = skip)")
	flagRecheck   = flag.Duration("recheck-interval", 0, "manager RecheckInterval (0 = default)")
)

// Result is what -out receives.
type Result struct {
	N, Concurrency    int
	QPS               float64
	Burst             int
	Auto, Human       Phase
	GrantsPerSec      float64 // whole grant phase (auto + human)
	CeilingCount      int
	CeilingPerSec     float64
	ThroughputRatio   float64 // auto-path grants/sec ÷ ceiling requests/sec
	ExpiryCount       int
	ExpiryDurationSec float64
	ExpiryLagP50Sec   float64
	ExpiryLagP99Sec   float64
	ExpiryLagMaxSec   float64
	RawDeleteSec      float64
	// Manager writes for the expiry batch, grant and revocation together.
	ExpiryWritesPerRequest float64
	ExpiryWritesByVerb     map[string]int64
	PeakRSSMiB             float64
	PeakHeapInuseMiB       float64
	Unrelated              int
	UnrelatedHeapDiffMiB   float64 `json:",omitempty"`
	Targets                map[string]bool
}

// Phase is one grant sub-phase.
type Phase struct {
	Count               int
	Seconds             float64
	GrantsPerSec        float64
	P50Ms, P95Ms, P99Ms float64
	ManagerWrites       int64
	WritesPerGrant      float64
	WritesByVerb        map[string]int64
}

// writes counts the manager client's writes by verb.
type writes struct {
	mu sync.Mutex
	m  map[string]int64
}

func (w *writes) inc(v string) { w.mu.Lock(); w.m[v]++; w.mu.Unlock() }
func (w *writes) snap() map[string]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int64{}
	for k, v := range w.m {
		out[k] = v
	}
	return out
}

func (w *writes) funcs() *interceptor.Funcs {
	return &interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			w.inc("create")
			return c.Create(ctx, o, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			w.inc("update")
			return c.Update(ctx, o, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			w.inc("patch")
			return c.Patch(ctx, o, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
			w.inc("delete")
			return c.Delete(ctx, o, opts...)
		},
		DeleteAllOf: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteAllOfOption) error {
			w.inc("deleteAllOf")
			return c.DeleteAllOf(ctx, o, opts...)
		},
		SubResourceCreate: func(
			ctx context.Context, c client.Client, sub string, o, s client.Object, opts ...client.SubResourceCreateOption,
		) error {
			w.inc(sub + "Create")
			return c.SubResource(sub).Create(ctx, o, s, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
			w.inc(sub + "Update")
			return c.SubResource(sub).Update(ctx, o, opts...)
		},
		SubResourcePatch: func(
			ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption,
		) error {
			w.inc(sub + "Patch")
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		},
	}
}

func total(m map[string]int64) (t int64) {
	for _, v := range m {
		t += v
	}
	return
}

func diff(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range b {
		if d := v - a[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// observer records, from its own informers, when each request is first seen
// Granted and when each managed RoleBinding disappears.
type observer struct {
	mu        sync.Mutex
	granted   map[string]time.Time
	expiresAt map[string]time.Time
	gone      map[string]time.Time
}

func (o *observer) onRequest(obj any) {
	ar, ok := obj.(*accessv1alpha1.AccessRequest)
	if !ok {
		return
	}
	c := meta.FindStatusCondition(ar.Status.Conditions, accessv1alpha1.ConditionReady)
	if c == nil || c.Reason != accessv1alpha1.ReasonGranted {
		return
	}
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, seen := o.granted[ar.Name]; !seen {
		o.granted[ar.Name] = now
		if ar.Status.ExpiresAt != nil {
			o.expiresAt[ar.Name] = ar.Status.ExpiresAt.Time
		}
	}
}

func (o *observer) onBindingDelete(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	rb, ok := obj.(*rbacv1.RoleBinding)
	if !ok {
		return
	}
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if r := rb.Labels[accessv1alpha1.RequestLabel]; r != "" {
		if _, seen := o.gone[r]; !seen {
			o.gone[r] = now
		}
	}
}

func (o *observer) countIn(m map[string]time.Time, names []string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, name := range names {
		if _, ok := m[name]; ok {
			n++
		}
	}
	return n
}

func (o *observer) waitAll(ctx context.Context, m map[string]time.Time, names []string, timeout time.Duration, what string) error {
	deadline := time.Now().Add(timeout)
	for {
		got := o.countIn(m, names)
		if got == len(names) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: only %d of %d after %s", what, got, len(names), timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// heap samples HeapInuse every 100ms and keeps the peak.
type heapSampler struct{ peak atomic.Uint64 }

func (h *heapSampler) run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var ms runtime.MemStats
	for {
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > h.peak.Load() {
			h.peak.Store(ms.HeapInuse)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func vmHWM() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(p*float64(len(s)))) - 1
	if i < 0 {
		i = 0
	}
	return s[i]
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[%s] "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// pool runs f(i) for i in [0,n) on c goroutines.
func pool(n, c int, f func(i int) error) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// unrelatedNS holds the RoleBindings of the cache-scoping check.
const unrelatedNS = "unrelated"

func main() {
	flag.Parse()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "bench: KUBEBUILDER_ASSETS is not set; run `make bench`")
		os.Exit(1)
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	root, err := utils.RepoRoot()
	must(err, "finding the repository")
	ctx := context.Background()

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}},
	}
	cfg, err := env.Start()
	must(err, "starting envtest")
	code := run(ctx, env, cfg)
	_ = env.Stop()
	os.Exit(code)
}

func withQPS(cfg *rest.Config, qps float64, burst int) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = float32(qps), burst
	return c
}

func as(cfg *rest.Config, user string, groups ...string) client.Client {
	c := withQPS(cfg, loadQPS, loadQPS)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	cl, err := client.New(c, client.Options{Scheme: app.Scheme})
	must(err, "creating a client")
	return cl
}

type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	mgr    ctrl.Manager
}

func (r *running) stop() { r.cancel(); <-r.done }

func startMgr(mgr ctrl.Manager) *running {
	c, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{}), mgr: mgr}
	go func() {
		defer close(r.done)
		if err := mgr.Start(c); err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped:", err)
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

func run(ctx context.Context, env *envtest.Environment, cfg *rest.Config) int {
	n, conc := *flagN, *flagConc
	half := n / 2
	res := Result{N: n, Concurrency: conc, QPS: *flagQPS, Burst: *flagBurst, Unrelated: *flagUnrelated, Targets: map[string]bool{}}

	hctx, hcancel := context.WithCancel(ctx)
	defer hcancel()
	hs := &heapSampler{}
	go hs.run(hctx)

	admin, err := client.New(withQPS(cfg, loadQPS, loadQPS), client.Options{Scheme: app.Scheme})
	must(err, "creating the admin client")
	// Impersonated users carry system:masters so no RBAC setup is needed;
	// the webhooks still stamp their username and groups.
	asRequester := as(cfg, requester, "system:masters", "bench-devs")
	asReviewer := as(cfg, reviewer, "system:masters", "security-oncall")

	// The world: one namespace, one policy with an auto-approved ClusterRole
	// and a Role that security-oncall approves once.
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
		must(admin.Create(ctx, o), fmt.Sprintf("creating %T", o))
	}

	// The observer's own informers (RoleBindings: managed ones only).
	obs := &observer{granted: map[string]time.Time{}, expiresAt: map[string]time.Time{}, gone: map[string]time.Time{}}
	oc, err := cache.New(withQPS(cfg, loadQPS, loadQPS), cache.Options{Scheme: app.Scheme,
		DefaultNamespaces: map[string]cache.Config{ns: {}},
		ByObject:          map[client.Object]cache.ByObject{&rbacv1.RoleBinding{}: {Label: app.ManagedBindingSelector()}}})
	must(err, "creating the observer cache")
	ari, err := oc.GetInformer(ctx, &accessv1alpha1.AccessRequest{})
	must(err, "AccessRequest informer")
	_, err = ari.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: obs.onRequest, UpdateFunc: func(_, o any) { obs.onRequest(o) }})
	must(err, "AccessRequest handler")
	rbi, err := oc.GetInformer(ctx, &rbacv1.RoleBinding{})
	must(err, "RoleBinding informer")
	_, err = rbi.AddEventHandler(toolscache.ResourceEventHandlerFuncs{DeleteFunc: obs.onBindingDelete})
	must(err, "RoleBinding handler")
	go func() { _ = oc.Start(hctx) }()
	if !oc.WaitForCacheSync(ctx) {
		must(fmt.Errorf("not synced"), "observer cache")
	}

	// The real manager, webhooks on, its client counted and rate-limited.
	w := &writes{m: map[string]int64{}}
	wh := env.WebhookInstallOptions
	mgr, err := app.NewManager(withQPS(cfg, *flagQPS, *flagBurst), app.Options{
		MetricsAddr: "0", ProbeAddr: "0", AuditLog: discard{}, MetricsRegistry: prometheus.NewRegistry(),
		SkipNameValidation: true, MaxConcurrentReconciles: conc, RecheckInterval: *flagRecheck, Interceptor: w.funcs(),
		Webhook: app.WebhookOptions{Enabled: true, Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir},
	})
	must(err, "creating the manager")
	rm := startMgr(mgr)
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		must(fmt.Errorf("not synced"), "manager cache")
	}
	must(waitForWebhooks(ctx, admin), "webhooks")
	logf("manager up (concurrency %d, qps %.0f, burst %d)", conc, *flagQPS, *flagBurst)

	created := sync.Map{} // name -> time.Time just before Create
	grantPhase := func(prefix string, count int, auto bool, d time.Duration) Phase {
		nm := names(prefix, count)
		before := w.snap()
		start := time.Now()
		err := pool(count, conc, func(i int) error {
			r := newRequest(nm[i], auto, d)
			created.Store(nm[i], time.Now())
			if err := asRequester.Create(ctx, r); err != nil {
				return fmt.Errorf("creating %s: %w", nm[i], err)
			}
			if auto {
				return nil
			}
			dec := &accessv1alpha1.AccessDecision{
				ObjectMeta: metav1.ObjectMeta{Name: nm[i] + "-carol", Namespace: r.Namespace},
				Spec:       accessv1alpha1.AccessDecisionSpec{Request: nm[i], Decision: accessv1alpha1.DecisionApprove},
			}
			if err := asReviewer.Create(ctx, dec); err != nil {
				return fmt.Errorf("deciding %s: %w", nm[i], err)
			}
			return nil
		})
		must(err, prefix)
		must(obs.waitAll(ctx, obs.granted, nm, 10*time.Minute, prefix+" granted"), prefix)
		obs.mu.Lock()
		lat := make([]time.Duration, 0, len(nm))
		var last time.Time
		for _, name := range nm {
			g := obs.granted[name]
			c, _ := created.Load(name)
			lat = append(lat, g.Sub(c.(time.Time)))
			if g.After(last) {
				last = g
			}
		}
		obs.mu.Unlock()
		// Let follow-up writes of this batch land before counting.
		time.Sleep(2 * time.Second)
		wd := diff(before, w.snap())
		secs := last.Sub(start).Seconds()
		p := Phase{Count: count, Seconds: secs, GrantsPerSec: float64(count) / secs,
			P50Ms: ms(pct(lat, .5)), P95Ms: ms(pct(lat, .95)), P99Ms: ms(pct(lat, .99)),
			ManagerWrites: total(wd), WritesPerGrant: float64(total(wd)) / float64(count), WritesByVerb: wd}
		logf("%s: %d granted in %.2fs (%.1f/s), p50 %.0fms p99 %.0fms, %.2f manager writes/grant %v",
			prefix, count, secs, p.GrantsPerSec, p.P50Ms, p.P99Ms, p.WritesPerGrant, wd)
		return p
	}

	// Warm-up (not measured): caches, connections and the webhook path.
	warm := max(10, n/20)
	must(pool(warm, conc, func(i int) error {
		return asRequester.Create(ctx, newRequest(fmt.Sprintf("warm-%05d", i), true, time.Hour))
	}), "warm-up")
	must(obs.waitAll(ctx, obs.granted, names("warm", warm), 5*time.Minute, "warm-up granted"), "warm-up")
	logf("warm-up: %d auto requests granted", warm)

	// Phase 1: grants. Durations outlast the whole run.
	res.Auto = grantPhase("auto", half, true, time.Hour)
	res.Human = grantPhase("human", n-half, false, time.Hour)
	res.GrantsPerSec = float64(n) / (res.Auto.Seconds + res.Human.Seconds)

	// Mass expiry: a fresh auto batch whose duration outlasts its own
	// granting (estimated from the auto sub-phase), so all expire together.
	res.ExpiryCount = half
	d := time.Duration(math.Ceil(res.Auto.Seconds*1.5+10)) * time.Second
	res.ExpiryDurationSec = d.Seconds()
	logf("expiry batch: %d auto requests of %s", half, d)
	expBefore := w.snap()
	expNames := names("exp", half)
	must(pool(half, conc, func(i int) error {
		return asRequester.Create(ctx, newRequest(expNames[i], true, d))
	}), "expiry batch")
	must(obs.waitAll(ctx, obs.granted, expNames, 10*time.Minute, "expiry batch granted"), "expiry")
	obs.mu.Lock()
	var firstExp, lastExp time.Time
	for _, name := range expNames {
		e, ok := obs.expiresAt[name]
		if !ok {
			obs.mu.Unlock()
			must(fmt.Errorf("%s granted without status.expiresAt", name), "expiry")
		}
		if firstExp.IsZero() || e.Before(firstExp) {
			firstExp = e
		}
		if e.After(lastExp) {
			lastExp = e
		}
	}
	obs.mu.Unlock()
	if time.Now().After(firstExp) {
		logf("warning: some expiry-batch requests expired before the whole batch was granted")
	}
	logf("all granted; expiries span %s .. %s", firstExp.Format("15:04:05"), lastExp.Format("15:04:05"))
	must(obs.waitAll(ctx, obs.gone, expNames, time.Until(lastExp)+5*time.Minute, "expired bindings gone"), "expiry")
	// Let the status writes that follow each revocation land, then count.
	time.Sleep(3 * time.Second)
	ed := diff(expBefore, w.snap())
	res.ExpiryWritesPerRequest = float64(total(ed)) / float64(half)
	res.ExpiryWritesByVerb = ed
	logf("expiry batch: %.2f manager writes per request (grant + revoke) %v", res.ExpiryWritesPerRequest, ed)
	lags := make([]time.Duration, 0, len(expNames))
	obs.mu.Lock()
	for _, name := range expNames {
		lags = append(lags, obs.gone[name].Sub(obs.expiresAt[name]))
	}
	obs.mu.Unlock()
	res.ExpiryLagP50Sec, res.ExpiryLagP99Sec, res.ExpiryLagMaxSec = pct(lags, .5).Seconds(), pct(lags, .99).Seconds(), pct(lags, 1).Seconds()
	logf("expiry lag p50 %.2fs p99 %.2fs max %.2fs", res.ExpiryLagP50Sec, res.ExpiryLagP99Sec, res.ExpiryLagMaxSec)

	// Cache scoping: unrelated RoleBindings must not grow the manager's heap.
	if k := *flagUnrelated; k > 0 {
		must(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: unrelatedNS}}), "unrelated namespace")
		h0 := heapAfterGC()
		t0 := time.Now()
		must(pool(k, 16, func(i int) error {
			return admin.Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("u-%06d", i), Namespace: unrelatedNS},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "x", Namespace: unrelatedNS}},
			})
		}), "unrelated RoleBindings")
		time.Sleep(5 * time.Second)
		h1 := heapAfterGC()
		res.UnrelatedHeapDiffMiB = (float64(h1) - float64(h0)) / (1 << 20)
		logf("%d unrelated RoleBindings created in %s; heap after GC %.1f -> %.1f MiB",
			k, time.Since(t0).Round(time.Second), float64(h0)/(1<<20), float64(h1)/(1<<20))
	}

	rm.stop()
	logf("rolegate manager stopped")

	// Ceiling: no controllers. A manager serving only rolegate's webhooks
	// (same handlers, same port) keeps admission identical; a raw
	// "controller" client with the manager's QPS/burst does what the auto
	// path needs: create the RoleBinding, write the Granted status.
	wm, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: app.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir})})
	must(err, "creating the webhook-only manager")
	must(snapshot.SetupIndexes(ctx, wm.GetFieldIndexer()), "webhook-only manager indexes")
	rec, err := metrics.NewRecorder(prometheus.NewRegistry())
	must(err, "metrics recorder")
	webhookv1alpha1.Register(wm.GetWebhookServer(), wm.GetScheme(), wm.GetClient(), wm.GetAPIReader(), clock.RealClock{}, rec)
	wr := startMgr(wm)
	defer wr.stop()
	must(waitForWebhooks(ctx, admin), "webhooks (ceiling)")
	raw, err := client.New(withQPS(cfg, *flagQPS, *flagBurst), client.Options{Scheme: app.Scheme})
	must(err, "raw client")
	ceilNames := names("ceil", half)
	bindings := make([]*rbacv1.RoleBinding, half)
	res.CeilingCount = half
	start := time.Now()
	must(pool(half, conc, func(i int) error {
		r := newRequest(ceilNames[i], true, time.Hour)
		if err := asRequester.Create(ctx, r); err != nil {
			return err
		}
		now := time.Now()
		rb := controller.DesiredBinding(r, now.Add(time.Hour))
		if err := raw.Create(ctx, rb); err != nil {
			return err
		}
		bindings[i] = rb
		r.Status.GrantedAt = &metav1.Time{Time: now}
		r.Status.ExpiresAt = &metav1.Time{Time: now.Add(time.Hour)}
		r.Status.RoleBinding = rb.Name
		meta.SetStatusCondition(&r.Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionReady,
			Status: metav1.ConditionTrue, Reason: accessv1alpha1.ReasonGranted, Message: "ceiling"})
		return raw.Status().Update(ctx, r)
	}), "ceiling")
	cs := time.Since(start).Seconds()
	res.CeilingPerSec = float64(half) / cs
	logf("ceiling: %d requests (create AR, create RB, update status) in %.2fs (%.1f/s)", half, cs, res.CeilingPerSec)
	start = time.Now()
	must(pool(half, conc, func(i int) error { return raw.Delete(ctx, bindings[i]) }), "raw delete loop")
	res.RawDeleteSec = time.Since(start).Seconds()
	logf("raw delete loop: %d RoleBindings in %.2fs", half, res.RawDeleteSec)

	res.ThroughputRatio = res.Auto.GrantsPerSec / res.CeilingPerSec
	res.PeakRSSMiB = vmHWM()
	res.PeakHeapInuseMiB = float64(hs.peak.Load()) / (1 << 20)
	res.Targets["throughput_ratio>=0.7"] = res.ThroughputRatio >= 0.7
	res.Targets["expiry_lag_p99<=1.5x_raw_delete"] = res.ExpiryLagP99Sec <= 1.5*res.RawDeleteSec
	res.Targets["auto_writes_per_grant<=3"] = res.Auto.WritesPerGrant <= 3

	report(res)
	b, _ := json.MarshalIndent(res, "", "  ")
	must(os.WriteFile(*flagOut, append(b, '\n'), 0o644), "writing "+*flagOut)
	logf("wrote %s", *flagOut)
	return 0
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func pf(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func report(r Result) {
	fmt.Printf("\nrolegate benchmark: n=%d concurrency=%d qps=%.0f burst=%d GOMAXPROCS=%d\n\n",
		r.N, r.Concurrency, r.QPS, r.Burst, runtime.GOMAXPROCS(0))
	fmt.Printf("| %-46s | %-28s | %-6s |\n", "metric", "value", "target")
	fmt.Printf("|%s|%s|%s|\n", strings.Repeat("-", 48), strings.Repeat("-", 30), strings.Repeat("-", 8))
	row := func(m, v, t string) { fmt.Printf("| %-46s | %-28s | %-6s |\n", m, v, t) }
	for _, p := range []struct {
		name string
		ph   Phase
	}{{"auto", r.Auto}, {"human (1 approval)", r.Human}} {
		row(fmt.Sprintf("create→Granted p50/p95/p99, %s", p.name),
			fmt.Sprintf("%.0f / %.0f / %.0f ms", p.ph.P50Ms, p.ph.P95Ms, p.ph.P99Ms), "")
		row(fmt.Sprintf("grants/sec, %s (%d)", p.name, p.ph.Count), fmt.Sprintf("%.1f", p.ph.GrantsPerSec), "")
		row(fmt.Sprintf("manager API writes per grant, %s", p.name), fmt.Sprintf("%.3f", p.ph.WritesPerGrant), "")
	}
	row("grants/sec, whole grant phase", fmt.Sprintf("%.1f", r.GrantsPerSec), "")
	row(fmt.Sprintf("ceiling requests/sec (%d, raw client)", r.CeilingCount), fmt.Sprintf("%.1f", r.CeilingPerSec), "")
	row("throughput ratio auto ÷ ceiling (≥ 0.7)", fmt.Sprintf("%.2f", r.ThroughputRatio), pf(r.Targets["throughput_ratio>=0.7"]))
	row(fmt.Sprintf("expiry→binding gone p50/p99 (%d)", r.ExpiryCount),
		fmt.Sprintf("%.2f / %.2f s (max %.2f)", r.ExpiryLagP50Sec, r.ExpiryLagP99Sec, r.ExpiryLagMaxSec), "")
	row(fmt.Sprintf("raw delete loop, %d RoleBindings", r.CeilingCount), fmt.Sprintf("%.2f s", r.RawDeleteSec), "")
	row("expiry lag p99 ≤ 1.5 × raw delete loop", fmt.Sprintf("%.2f ≤ %.2f s", r.ExpiryLagP99Sec, 1.5*r.RawDeleteSec),
		pf(r.Targets["expiry_lag_p99<=1.5x_raw_delete"]))
	row("API writes per grant, auto path (≤ 3)", fmt.Sprintf("%.3f", r.Auto.WritesPerGrant), pf(r.Targets["auto_writes_per_grant<=3"]))
	row("manager writes per request, grant+expiry", fmt.Sprintf("%.2f", r.ExpiryWritesPerRequest), "")
	row("peak RSS, whole bench process (VmHWM)", fmt.Sprintf("%.0f MiB", r.PeakRSSMiB), "")
	row("peak Go HeapInuse (100ms samples)", fmt.Sprintf("%.0f MiB", r.PeakHeapInuseMiB), "")
	if r.Unrelated > 0 {
		row(fmt.Sprintf("heap growth from %d unrelated RoleBindings", r.Unrelated), fmt.Sprintf("%.1f MiB", r.UnrelatedHeapDiffMiB), "")
	}
	fmt.Println()
}
