package main

import (
	"fmt"
	"math"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// clusteredExpiry grants n auto requests that share one expiresAt second
// (the same spec.startTime, a whole second in the past, and the same
// duration, long enough for all of them to be granted first), then times
// each RoleBinding's deletion from that second.
func (b *bench) clusteredExpiry(n int) {
	rate := b.res.Grant.Auto.PerS
	d := time.Duration(math.Ceil(float64(n)/rate*1.5+10)) * time.Second
	start := time.Now().Truncate(time.Second)
	expiresAt := start.Add(d)
	prefix := fmt.Sprintf("c%d", n)
	nm := names(prefix, n)
	logf("clustered expiry: %d auto requests, all expiring at %s", n, expiresAt.Format("15:04:05"))
	must(pool(n, b.conc, func(i int) error {
		r := newRequest(nm[i], true, d)
		r.Spec.StartTime = &metav1.Time{Time: start}
		return b.submit(r, true)
	}), prefix)
	must(b.obs.waitAll(b.ctx, b.obs.granted, nm, 10*time.Minute, prefix+" granted"), prefix)
	if time.Now().After(expiresAt) {
		must(fmt.Errorf("granting took longer than the %s window; the lag would be wrong", d), prefix)
	}
	b.checkExpiresAt(nm, expiresAt)
	// Count only the revocations' writes: the grants' have landed by now.
	time.Sleep(time.Until(expiresAt.Add(-time.Second)))
	before, beforeD := b.writes.snap(), b.writes.times()
	must(b.obs.waitAll(b.ctx, b.obs.gone, nm, time.Until(expiresAt)+10*time.Minute, prefix+" bindings gone"), prefix)
	lags := b.expiryLags(nm)
	time.Sleep(3 * time.Second) // status writes and finalizer releases that follow each deletion
	after := b.writes.snap()
	wd := diff(before, after)
	c := &Clustered{N: n, P50Ms: ms(pct(lags, .5)), P99Ms: ms(pct(lags, .99)), MaxMs: ms(pct(lags, 1)),
		WritesPerRevocation: float64(total(wd)) / float64(n), WritesByVerb: wd,
		WriteMsByVerb: meanMs(before, after, beforeD, b.writes.times())}
	b.res.Expiry.Clustered[strconv.Itoa(n)] = c
	logf("clustered expiry %d: binding gone after p50 %.0fms p99 %.0fms max %.0fms; %.2f manager writes per revocation %v, mean ms %v",
		n, c.P50Ms, c.P99Ms, c.MaxMs, c.WritesPerRevocation, wd, c.WriteMsByVerb)
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
func (b *bench) expiryLags(nm []string) []time.Duration {
	b.obs.mu.Lock()
	defer b.obs.mu.Unlock()
	lags := make([]time.Duration, 0, len(nm))
	for _, name := range nm {
		lags = append(lags, b.obs.gone[name].Sub(b.obs.expiresAt[name]))
	}
	return lags
}
