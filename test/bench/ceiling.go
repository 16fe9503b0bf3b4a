package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/internal/controller"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/internal/snapshot"
	webhookv1alpha1 "rolegate.dev/rolegate/internal/webhook/v1alpha1"
)

// ceiling measures what the API server allows with rolegate's manager
// stopped. A controller-less manager serves the same webhook handlers on
// the same port, so admission costs the same; a raw client without a
// client-side rate limit does the auto path's writes at the load's
// concurrency, then deletes RoleBindings in the clustered expiries' sizes.
func (b *bench) ceiling() {
	wh := b.env.WebhookInstallOptions
	wm, err := ctrl.NewManager(b.cfg, ctrl.Options{Scheme: app.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir})})
	must(err, "creating the webhook-only manager")
	must(snapshot.SetupIndexes(b.ctx, wm.GetFieldIndexer()), "webhook-only manager indexes")
	rec, err := metrics.NewRecorder(prometheus.NewRegistry())
	must(err, "metrics recorder")
	webhookv1alpha1.Register(wm.GetWebhookServer(), wm.GetScheme(), wm.GetClient(), wm.GetAPIReader(), clock.RealClock{}, rec)
	wr := startMgr(wm)
	defer wr.stop()
	must(waitForWebhooks(b.ctx, b.admin), "webhooks (ceiling)")
	raw, err := client.New(unlimited(b.cfg), client.Options{Scheme: app.Scheme})
	must(err, "raw client")

	half := *flagN / 2
	nm := names("ceil", half)
	start := time.Now()
	must(pool(half, b.conc, func(i int) error { return rawGrant(b, raw, nm[i]) }), "ceiling")
	secs := time.Since(start).Seconds()
	b.res.Ceiling = Ceiling{Count: half, Seconds: secs, CreatesPerS: float64(half) / secs}
	logf("ceiling: %d requests (create AR, create RB, update status) in %.2fs (%.1f/s)", half, secs, b.res.Ceiling.CreatesPerS)
	for _, n := range b.sizes {
		b.rawDelete(raw, n)
	}
}

// rawGrant does what the auto path writes for one request.
func rawGrant(b *bench, raw client.Client, name string) error {
	r := newRequest(name, true, time.Hour)
	if err := b.asRequester.Create(b.ctx, r); err != nil {
		return err
	}
	now := time.Now()
	rb := controller.DesiredBinding(r, now.Add(time.Hour))
	if err := raw.Create(b.ctx, rb); err != nil {
		return err
	}
	r.Status.GrantedAt = &metav1.Time{Time: now}
	r.Status.ExpiresAt = &metav1.Time{Time: now.Add(time.Hour)}
	r.Status.RoleBinding = rb.Name
	meta.SetStatusCondition(&r.Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionReady,
		Status: metav1.ConditionTrue, Reason: accessv1alpha1.ReasonGranted, Message: "ceiling"})
	return raw.Status().Update(b.ctx, r)
}

// rawDelete creates n RoleBindings (not timed) in a namespace of their own
// and times deleting them at the load's concurrency.
func (b *bench) rawDelete(raw client.Client, n int) {
	space := fmt.Sprintf("raw-delete-%d", n)
	must(b.admin.Create(b.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: space}}), space)
	bindings := make([]*rbacv1.RoleBinding, n)
	must(pool(n, b.conc, func(i int) error {
		bindings[i] = &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("rb-%05d", i), Namespace: space},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}},
		}
		return raw.Create(b.ctx, bindings[i])
	}), space)
	start := time.Now()
	must(pool(n, b.conc, func(i int) error { return raw.Delete(b.ctx, bindings[i]) }), "raw delete loop")
	d := time.Since(start)
	c := b.res.Expiry.Clustered[strconv.Itoa(n)]
	c.RawDeleteMs = ms(d)
	if c.Error == "" {
		c.RatioP99ToRawDelete = c.P99Ms / c.RawDeleteMs
	}
	logf("raw delete loop: %d RoleBindings in %s", n, d.Round(time.Millisecond))
}

// unrelatedBindings checks the cache's scoping: RoleBindings without
// rolegate's label must not grow the manager's heap.
func (b *bench) unrelatedBindings(k int) {
	const space = "unrelated"
	must(b.admin.Create(b.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: space}}), "unrelated namespace")
	h0 := heapAfterGC()
	t0 := time.Now()
	must(pool(k, 16, func(i int) error {
		return b.admin.Create(b.ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("u-%06d", i), Namespace: space},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "x", Namespace: space}},
		})
	}), "unrelated RoleBindings")
	time.Sleep(5 * time.Second)
	h1 := heapAfterGC()
	b.res.Memory.UnrelatedBindings = k
	b.res.Memory.UnrelatedHeapGrowthMB = (float64(h1) - float64(h0)) / (1 << 20)
	logf("%d unrelated RoleBindings created in %s; heap after GC %.1f -> %.1f MiB",
		k, time.Since(t0).Round(time.Second), float64(h0)/(1<<20), float64(h1)/(1<<20))
}
