package main

import (
	"fmt"
	"strings"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// submit creates one request as the requester, and for a human request
// the reviewer's approval right after it.
func (b *bench) submit(r *accessv1alpha1.AccessRequest, auto bool) error {
	b.created.Store(r.Name, time.Now())
	if err := b.asRequester.Create(b.ctx, r); err != nil {
		return fmt.Errorf("creating %s: %w", r.Name, err)
	}
	if auto {
		return nil
	}
	dec := &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{Name: r.Name + "-carol", Namespace: r.Namespace},
		Spec:       accessv1alpha1.AccessDecisionSpec{Request: r.Name, Decision: accessv1alpha1.DecisionApprove},
	}
	if err := b.asReviewer.Create(b.ctx, dec); err != nil {
		return fmt.Errorf("deciding %s: %w", r.Name, err)
	}
	return nil
}

// warmUp fills caches and connections and exercises the webhook path; it
// is not measured.
func (b *bench) warmUp() {
	warm := max(10, *flagN/20)
	must(pool(warm, b.conc, func(i int) error {
		return b.asRequester.Create(b.ctx, newRequest(fmt.Sprintf("warm-%05d", i), true, time.Hour))
	}), "warm-up")
	must(b.obs.waitAll(b.ctx, b.obs.granted, names("warm", warm), 5*time.Minute, "warm-up granted"), "warm-up")
	logf("warm-up: %d auto requests granted", warm)
}

// grantPhases grants n requests, half auto-approved and half approved by
// a reviewer, and measures the heap they add. The auto phase runs -repeat
// times (n/2 requests each); the median run is the figure.
func (b *bench) grantPhases() {
	n := *flagN
	h0 := heapAfterGC()
	waitProfile := profileAPIServer(b.cfg, *flagAPIProfSecs, *flagAPIProf)
	runs := make([]Phase, 0, *flagRepeat)
	for i := range *flagRepeat {
		runs = append(runs, b.grantPhase(repeatPrefix("auto", i), n/2, true))
		if i == 0 {
			waitProfile()
		}
	}
	b.res.Grant.Auto = medianPhase(runs)
	b.granted = b.statusOf("auto-00000")
	b.res.Grant.Human = b.grantPhase("human", n-n/2, false)
	b.res.Grant.PerS = float64(n) / (b.res.Grant.Auto.Seconds + b.res.Grant.Human.Seconds)
	h1 := heapAfterGC()
	live := n/2**flagRepeat + n - n/2
	b.res.Memory.HeapPer1kGrantsMB = (float64(h1) - float64(h0)) / (1 << 20) / (float64(live) / 1000)
	logf("heap after GC %.1f -> %.1f MiB over %d live grants", float64(h0)/(1<<20), float64(h1)/(1<<20), live)
}

// statusOf reads a request's status from the API server.
func (b *bench) statusOf(name string) *accessv1alpha1.AccessRequestStatus {
	ar := &accessv1alpha1.AccessRequest{}
	must(b.admin.Get(b.ctx, client.ObjectKey{Namespace: ns, Name: name}, ar), "reading "+name)
	return &ar.Status
}

// repeatPrefix names the i-th repeat of a phase: prefix, prefix-r2, ...
func repeatPrefix(prefix string, i int) string {
	if i == 0 {
		return prefix
	}
	return fmt.Sprintf("%sr%d", prefix, i+1)
}

// medianPhase is the median run by rate, with every run's rate in Repeats.
func medianPhase(runs []Phase) Phase {
	p, rates := medianRun(runs, func(p Phase) float64 { return p.PerS })
	p.Repeats = rates
	return p
}

// grantPhase creates count requests on the load goroutines and times each
// from just before its Create to the observer's first sight of Granted.
// Durations outlast the whole run.
func (b *bench) grantPhase(prefix string, count int, auto bool) Phase {
	nm := names(prefix, count)
	before, beforeD, p0, r0, cpu0 := b.writes.snap(), b.writes.times(), readPasses(), b.requests.snap(), cpuTimes()
	start := time.Now()
	must(pool(count, b.conc, func(i int) error { return b.submit(newRequest(nm[i], auto, 4*time.Hour), auto) }), prefix)
	created := time.Since(start).Seconds()
	must(b.obs.waitAll(b.ctx, b.obs.granted, nm, 10*time.Minute, prefix+" granted"), prefix)
	cpu1 := cpuTimes()
	lat, last := b.grantLatencies(nm)
	// Let follow-up writes of this batch land before counting.
	time.Sleep(2 * time.Second)
	after := b.writes.snap()
	wd := diff(before, after)
	events, err := b.countEvents(prefix + "-")
	must(err, prefix+" events")
	secs := last.Sub(start).Seconds()
	p := Phase{Count: count, Seconds: secs, PerS: float64(count) / secs, CreateSeconds: created,
		P50Ms: ms(pct(lat, .5)), P95Ms: ms(pct(lat, .95)), P99Ms: ms(pct(lat, .99)),
		Writes: total(wd), WritesPerGrant: float64(total(wd)) / float64(count), WritesByVerb: wd,
		WriteMsByVerb: meanMs(before, after, beforeD, b.writes.times()), Passes: readPasses().since(p0, count),
		EventsPerGrant: float64(events) / float64(count), RequestsPerGrant: perGrant(r0, b.requests.snap(), count),
		CPUMsPerGrant: cpuPer(cpu0, cpu1, count)}
	logf("%s: %d granted in %.2fs (%.1f/s; the load created them in %.2fs), p50 %.0fms p99 %.0fms, "+
		"%.2f manager writes/grant %v, mean ms %v, %.2f events/grant; passes %+v; API requests/grant %v; CPU ms/grant %v",
		prefix, count, secs, p.PerS, created, p.P50Ms, p.P99Ms, p.WritesPerGrant, wd, p.WriteMsByVerb, p.EventsPerGrant, *p.Passes,
		p.RequestsPerGrant, rounded(p.CPUMsPerGrant))
	return p
}

// countEvents counts the Kubernetes Events about AccessRequests whose name
// starts with prefix.
func (b *bench) countEvents(prefix string) (int, error) {
	var list eventsv1.EventList
	if err := b.admin.List(b.ctx, &list, client.InNamespace(ns)); err != nil {
		return 0, err
	}
	n := 0
	for i := range list.Items {
		if r := list.Items[i].Regarding; r.Kind == "AccessRequest" && strings.HasPrefix(r.Name, prefix) {
			n++
		}
	}
	return n, nil
}

// grantLatencies returns create→Granted for each name, and the last grant.
func (b *bench) grantLatencies(nm []string) ([]time.Duration, time.Time) {
	b.obs.mu.Lock()
	defer b.obs.mu.Unlock()
	lat := make([]time.Duration, 0, len(nm))
	var last time.Time
	for _, name := range nm {
		g := b.obs.granted[name]
		c, _ := b.created.Load(name)
		lat = append(lat, g.Sub(c.(time.Time)))
		if g.After(last) {
			last = g
		}
	}
	return lat, last
}
