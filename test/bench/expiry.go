package main

import (
	"fmt"
	"math"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// clusteredExpiry measures a clustered expiry of n grants, -repeat times
// up to -repeat-max-size grants (once above); the figures are those of the
// run with the median p99, and Repeats has every run's p99.
func (b *bench) clusteredExpiry(n int) {
	times := 1
	if n <= *flagRepeatMax {
		times = *flagRepeat
	}
	runs := make([]*Clustered, 0, times)
	for i := range times {
		c := b.clusteredRun(n, repeatPrefix(fmt.Sprintf("c%d", n), i))
		if c.Error != "" {
			b.res.Expiry.Clustered[strconv.Itoa(n)] = c
			return
		}
		runs = append(runs, c)
	}
	c, p99s := medianRun(runs, func(c *Clustered) float64 { return c.P99Ms })
	c.Repeats = p99s
	b.res.Expiry.Clustered[strconv.Itoa(n)] = c
}

// clusteredRun grants n auto requests that share one expiresAt second
// (the same spec.startTime, a whole second in the past, and the same
// duration, long enough for all of them to be granted first), then times
// each RoleBinding's deletion from that second, then when each revocation
// is recorded and its finalizer released.
func (b *bench) clusteredRun(n int, prefix string) *Clustered {
	rate := b.res.Grant.Auto.PerS
	d := time.Duration(math.Ceil(float64(n)/rate*2+15)) * time.Second
	start := time.Now().Truncate(time.Second)
	expiresAt := start.Add(d)
	nm := names(prefix, n)
	logf("clustered expiry: %d auto requests, all expiring at %s", n, expiresAt.Format("15:04:05"))
	must(pool(n, b.conc, func(i int) error {
		r := newRequest(nm[i], true, d)
		r.Spec.StartTime = &metav1.Time{Time: start}
		return b.submit(r, true)
	}), prefix)
	if err := b.obs.waitAll(b.ctx, b.obs.granted, nm, time.Until(expiresAt.Add(-time.Second)), prefix+" granted"); err != nil {
		logf("clustered expiry %d skipped: %v", n, err)
		time.Sleep(time.Until(expiresAt) + 30*time.Second)
		return &Clustered{N: n, Error: fmt.Sprintf("not all granted before the shared expiry (%v)", err)}
	}
	b.checkExpiresAt(nm, expiresAt)
	// Count only the revocations' writes: the grants' have landed by now.
	time.Sleep(time.Until(expiresAt.Add(-time.Second)))
	before, beforeD, p0 := b.writes.snap(), b.writes.times(), readPasses()
	must(b.obs.waitAll(b.ctx, b.obs.gone, nm, time.Until(expiresAt)+10*time.Minute, prefix+" bindings gone"), prefix)
	lags := b.expiryLags(nm)
	must(b.obs.waitAll(b.ctx, b.obs.recorded, nm, 10*time.Minute, prefix+" revocations recorded"), prefix)
	recorded := b.lagsFrom(b.obs.recorded, nm)
	// The finalizers are released after every revocation is recorded.
	must(b.obs.waitAll(b.ctx, b.obs.released, nm, 10*time.Minute, prefix+" finalizers released"), prefix)
	released := b.lagsFrom(b.obs.released, nm)
	time.Sleep(time.Second) // let the last writes' own passes land
	after := b.writes.snap()
	wd := diff(before, after)
	c := &Clustered{N: n, P50Ms: ms(pct(lags, .5)), P99Ms: ms(pct(lags, .99)), MaxMs: ms(pct(lags, 1)),
		RecordedP99Ms: ms(pct(recorded, .99)), ReleasedP99Ms: ms(pct(released, .99)),
		WritesPerRevocation: float64(total(wd)) / float64(n), WritesByVerb: wd,
		WriteMsByVerb: meanMs(before, after, beforeD, b.writes.times()), Passes: readPasses().since(p0, n)}
	logf("clustered expiry %d: binding gone after p50 %.0fms p99 %.0fms max %.0fms, recorded p99 %.0fms, released p99 %.0fms; "+
		"%.2f manager writes per revocation %v, mean ms %v; passes %+v",
		n, c.P50Ms, c.P99Ms, c.MaxMs, c.RecordedP99Ms, c.ReleasedP99Ms, c.WritesPerRevocation, wd, c.WriteMsByVerb, *c.Passes)
	return c
}

// checkExpiresAt makes sure every request of the batch records the shared
// expiry.
func (b *bench) checkExpiresAt(nm []string, want time.Time) {
	b.obs.mu.Lock()
	defer b.obs.mu.Unlock()
	for _, name := range nm {
		if got := b.obs.expiresAt[name]; !got.Equal(want) {
			b.obs.mu.Unlock()
			must(fmt.Errorf("%s expires at %s, want %s", name, got, want), "clustered expiry")
		}
	}
}

// expiryLags is RoleBinding gone − status.expiresAt for each name.
func (b *bench) expiryLags(nm []string) []time.Duration { return b.lagsFrom(b.obs.gone, nm) }

// lagsFrom is the time in m − status.expiresAt for each name.
func (b *bench) lagsFrom(m map[string]time.Time, nm []string) []time.Duration {
	b.obs.mu.Lock()
	defer b.obs.mu.Unlock()
	lags := make([]time.Duration, 0, len(nm))
	for _, name := range nm {
		lags = append(lags, m[name].Sub(b.obs.expiresAt[name]))
	}
	return lags
}
