package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
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
// client-side rate limit does the auto path's writes at each concurrency
// of -ceiling-sweep, and the ceiling is the best of them; then it deletes
// RoleBindings in the clustered expiries' sizes, again at each
// concurrency, and the raw delete time is the fastest.
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
	// Events go through a generated events.k8s.io client, as the
	// manager's event recorder sends them (JSON).
	ev, err := eventsv1client.NewForConfig(unlimited(b.cfg))
	must(err, "events client")
	rg := rawGranter{b: b, raw: raw, events: ev}

	half := *flagN / 2
	sweep, best := b.ceilingSweep("ceil", "(create AR, create RB, patch status)", half,
		func(name string) error { return rg.grant(name, 0) })
	b.res.Ceiling.Sweep = sweep
	b.res.Ceiling.Count, b.res.Ceiling.Seconds, b.res.Ceiling.CreatesPerS, b.res.Ceiling.Concurrency, b.res.Ceiling.Repeats =
		best.Count, best.Seconds, best.PerS, best.Concurrency, best.Repeats
	if k := int(math.Round(b.res.Grant.Auto.EventsPerGrant)); k > 0 {
		sweep, best := b.ceilingSweep("ceilev", fmt.Sprintf("with %d events each", k), half,
			func(name string) error { return rg.grant(name, k) })
		b.res.Ceiling.WithEvents = &CeilingEvents{EventsPerRequest: k, CreatesPerS: best.PerS, Concurrency: best.Concurrency,
			Repeats: best.Repeats, Sweep: sweep}
	}
	for _, n := range b.sizes {
		b.rawDelete(raw, n)
		b.rawRecord(raw, n)
	}
}

// ceilingSweep times count requests made by grant at each concurrency of
// the sweep (named prefix-c<C>-NNNNN), then -repeat − 1 more times at the
// fastest point. It returns every point of the sweep and the fastest, whose
// rate is the median of its runs (in Repeats).
func (b *bench) ceilingSweep(prefix, what string, count int, grant func(name string) error) ([]CeilingPoint, CeilingPoint) {
	sweep := make([]CeilingPoint, 0, len(b.sweep))
	var best CeilingPoint
	for _, c := range b.sweep {
		pt := b.ceilingPoint(fmt.Sprintf("%s-c%d", prefix, c), what, c, count, grant)
		sweep = append(sweep, pt)
		if pt.PerS > best.PerS {
			best = pt
		}
	}
	best.Repeats = []float64{best.PerS}
	for i := 1; i < *flagRepeat; i++ {
		pt := b.ceilingPoint(fmt.Sprintf("%s-c%dr%d", prefix, best.Concurrency, i+1), what, best.Concurrency, count, grant)
		best.Repeats = append(best.Repeats, pt.PerS)
	}
	best.PerS = median(best.Repeats)
	best.Seconds = float64(count) / best.PerS
	return sweep, best
}

// ceilingPoint times count requests made by grant on c goroutines.
func (b *bench) ceilingPoint(prefix, what string, c, count int, grant func(name string) error) CeilingPoint {
	nm := names(prefix, count)
	start, cpu0 := time.Now(), cpuTimes()
	must(pool(count, c, func(i int) error { return grant(nm[i]) }), "ceiling")
	secs := time.Since(start).Seconds()
	pt := CeilingPoint{Concurrency: c, Count: count, Seconds: secs, PerS: float64(count) / secs,
		CPUMsPerRequest: cpuPer(cpu0, cpuTimes(), count)}
	logf("ceiling at concurrency %d: %d requests %s in %.2fs (%.1f/s); CPU ms/request %v",
		c, count, what, secs, pt.PerS, rounded(pt.CPUMsPerRequest))
	return pt
}

// grantEventReasons are the Events of an auto grant, in order.
var grantEventReasons = []string{"Validated", accessv1alpha1.ReasonApproved, accessv1alpha1.ReasonGranted}

// rawGranter makes the auto path's writes as rolegate's manager sends
// them.
type rawGranter struct {
	b      *bench
	raw    client.Client
	events eventsv1client.EventsV1Interface
}

// grant does what the auto path writes for one request: the requester's
// create, the RoleBinding, the Granted status as an optimistic-locked merge
// patch (rolegate's status write), and events Events about it as the
// manager's event recorder does.
func (g rawGranter) grant(name string, events int) error {
	b := g.b
	r := newRequest(name, true, time.Hour)
	if err := b.asRequester.Create(b.ctx, r); err != nil {
		return err
	}
	now := time.Now()
	rb := controller.DesiredBinding(r, now.Add(time.Hour))
	if err := g.raw.Create(b.ctx, rb); err != nil {
		return err
	}
	before := r.DeepCopy()
	r.Status = grantedStatus(b.granted, rb.Name, now)
	if err := g.raw.Status().Patch(b.ctx, r, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	for i := range events {
		reason := grantEventReasons[i%len(grantEventReasons)]
		ev := &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%d", name, i), Namespace: r.Namespace},
			EventTime:  metav1.NewMicroTime(time.Now()), ReportingController: "rolegate", ReportingInstance: "ceiling",
			Action: "Grant", Reason: reason, Type: corev1.EventTypeNormal,
			Regarding: corev1.ObjectReference{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "AccessRequest",
				Namespace: r.Namespace, Name: r.Name, UID: r.UID, ResourceVersion: r.ResourceVersion},
			Note: fmt.Sprintf("ceiling: %s %s", reason, rb.Name),
		}
		if _, err := g.events.Events(r.Namespace).Create(b.ctx, ev, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// grantedStatus is the status rolegate wrote for an auto grant (tmpl, read
// after the grant phase), for another request granted at now with the
// RoleBinding binding: the same conditions, approvals and fields, so the
// ceiling's status write and stored object are the size rolegate's are.
func grantedStatus(tmpl *accessv1alpha1.AccessRequestStatus, binding string, now time.Time) accessv1alpha1.AccessRequestStatus {
	st := *tmpl.DeepCopy()
	at, expires := metav1.NewTime(now), metav1.NewTime(now.Add(time.Hour))
	r := strings.NewReplacer(tmpl.RoleBinding, binding, tmpl.ExpiresAt.UTC().Format(time.RFC3339), expires.UTC().Format(time.RFC3339))
	for i := range st.Conditions {
		st.Conditions[i].LastTransitionTime = at
		st.Conditions[i].Message = r.Replace(st.Conditions[i].Message)
	}
	for i := range st.Approvals {
		st.Approvals[i].Time = at
	}
	st.GrantedAt, st.ExpiresAt, st.RoleBinding = &at, &expires, binding
	return st
}

// rawDelete creates n RoleBindings (not timed) in a namespace of their own
// and times deleting them, once at each concurrency of the sweep and then
// -repeat − 1 more times at the fastest; the raw delete time is the median
// of the fastest point's runs.
func (b *bench) rawDelete(raw client.Client, n int) {
	space := fmt.Sprintf("raw-delete-%d", n)
	must(b.admin.Create(b.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: space}}), space)
	c := b.res.Expiry.Clustered[strconv.Itoa(n)]
	run := 0
	loop := func(conc int) float64 {
		run++
		bindings := make([]*rbacv1.RoleBinding, n)
		must(pool(n, conc, func(i int) error {
			bindings[i] = &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("rb-%d-%05d", run, i), Namespace: space},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}},
			}
			return raw.Create(b.ctx, bindings[i])
		}), space)
		start := time.Now()
		must(pool(n, conc, func(i int) error { return raw.Delete(b.ctx, bindings[i]) }), "raw delete loop")
		d := time.Since(start)
		logf("raw delete loop at concurrency %d: %d RoleBindings in %s", conc, n, d.Round(time.Millisecond))
		return ms(d)
	}
	for _, conc := range b.sweep {
		d := loop(conc)
		c.RawDeleteSweep = append(c.RawDeleteSweep, RawDeletePoint{Concurrency: conc, Ms: d})
		if c.RawDeleteMs == 0 || d < c.RawDeleteMs {
			c.RawDeleteMs, c.RawDeleteConcurrency = d, conc
		}
	}
	c.RawDeleteRepeats = []float64{c.RawDeleteMs}
	for i := 1; i < *flagRepeat; i++ {
		c.RawDeleteRepeats = append(c.RawDeleteRepeats, loop(c.RawDeleteConcurrency))
	}
	c.RawDeleteMs = median(c.RawDeleteRepeats)
	if c.Error == "" {
		c.RatioP99ToRawDelete = c.P99Ms / c.RawDeleteMs
	}
}

// rawRecord creates n AccessRequests (not timed) and times writing a
// revocation into their status (revokedAt and Ready Expired, one merge
// patch each, as rolegate's record pass), once at each concurrency of the
// sweep; the raw record time is the fastest. Revocations are recorded no
// faster than the API server takes these writes.
func (b *bench) rawRecord(raw client.Client, n int) {
	nm := names(fmt.Sprintf("rec%d", n), n)
	reqs := make([]*accessv1alpha1.AccessRequest, n)
	must(pool(n, b.sweep[len(b.sweep)-1], func(i int) error {
		reqs[i] = newRequest(nm[i], true, time.Hour)
		return b.asRequester.Create(b.ctx, reqs[i])
	}), "raw record: requests")
	c := b.res.Expiry.Clustered[strconv.Itoa(n)]
	for _, conc := range b.sweep {
		start := time.Now()
		must(pool(n, conc, func(i int) error {
			before := reqs[i].DeepCopy()
			now := metav1.Now()
			reqs[i].Status.RevokedAt = &now
			meta.SetStatusCondition(&reqs[i].Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionReady,
				Status: metav1.ConditionTrue, Reason: accessv1alpha1.ReasonExpired, Message: fmt.Sprintf("raw record at %d", conc)})
			return raw.Status().Patch(b.ctx, reqs[i], client.MergeFrom(before))
		}), "raw record loop")
		d := time.Since(start)
		c.RawRecordSweep = append(c.RawRecordSweep, RawDeletePoint{Concurrency: conc, Ms: ms(d)})
		logf("raw record loop at concurrency %d: %d status writes in %s", conc, n, d.Round(time.Millisecond))
		if c.RawRecordMs == 0 || ms(d) < c.RawRecordMs {
			c.RawRecordMs = ms(d)
		}
	}
	if c.Error == "" {
		c.RatioRecordedP99ToRaw = c.RecordedP99Ms / (c.RawDeleteMs + c.RawRecordMs)
	}
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
