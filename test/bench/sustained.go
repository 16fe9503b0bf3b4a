package main

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"
)

// sustainedLoad creates requests at a steady rate for length, alternating
// auto-approved and reviewer-approved ones, each lasting life so that
// grants, approvals and expiries overlap; it samples memory every 10 s.
func (b *bench) sustainedLoad(length time.Duration, rate float64, life time.Duration) {
	logf("sustained load: %.0f requests/s for %s, each for %s", rate, length, life)
	s := &Sustained{RatePerS: rate}
	p0 := readPasses()
	start := time.Now()
	var nm []string
	var wg sync.WaitGroup
	var errOnce sync.Once
	var loadErr error
	sem := make(chan struct{}, b.conc)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	sample := time.NewTicker(10 * time.Second)
	for i := 0; time.Since(start) < length; i++ {
		select {
		case <-sample.C:
			s.MemorySample = append(s.MemorySample, b.memSample(start, nm))
		case <-tick.C:
		}
		name := fmt.Sprintf("s-%06d", i)
		nm = append(nm, name)
		sem <- struct{}{}
		wg.Add(1)
		go func(auto bool) {
			defer func() { <-sem; wg.Done() }()
			if err := b.submit(newRequest(name, auto, life), auto); err != nil {
				errOnce.Do(func() { loadErr = err })
			}
		}(i%2 == 0)
	}
	tick.Stop()
	sample.Stop()
	wg.Wait()
	must(loadErr, "sustained load")
	s.Seconds, s.Requests = time.Since(start).Seconds(), len(nm)
	must(b.obs.waitAll(b.ctx, b.obs.granted, nm, 5*time.Minute, "sustained granted"), "sustained")
	must(b.obs.waitAll(b.ctx, b.obs.gone, nm, life+5*time.Minute, "sustained bindings gone"), "sustained")
	must(b.obs.waitAll(b.ctx, b.obs.recorded, nm, 5*time.Minute, "sustained revocations recorded"), "sustained")
	s.MemorySample = append(s.MemorySample, b.memSample(start, nm))
	s.Passes = readPasses().since(p0, len(nm))
	lat, _ := b.grantLatencies(nm)
	lags := b.expiryLags(nm)
	s.GrantP50Ms, s.GrantP99Ms = ms(pct(lat, .5)), ms(pct(lat, .99))
	s.Slowest = b.slowest(start, nm, lat, 5)
	s.ExpiryP50Ms, s.ExpiryP99Ms, s.ExpiryMaxMs = ms(pct(lags, .5)), ms(pct(lags, .99)), ms(pct(lags, 1))
	b.res.Sustained = s
	logf("sustained: %d requests in %.0fs; grant p50 %.0fms p99 %.0fms; expiry lag p50 %.0fms p99 %.0fms max %.0fms; passes %+v",
		s.Requests, s.Seconds, s.GrantP50Ms, s.GrantP99Ms, s.ExpiryP50Ms, s.ExpiryP99Ms, s.ExpiryMaxMs, *s.Passes)
}

// memSample is the process's memory now, with the number of the load's
// grants still live.
func (b *bench) memSample(start time.Time, nm []string) MemSample {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	live := b.obs.countIn(b.obs.granted, nm) - b.obs.countIn(b.obs.gone, nm)
	return MemSample{AtS: time.Since(start).Seconds(), RSSMB: procStatus("VmRSS"),
		HeapInuseMB: float64(m.HeapInuse) / (1 << 20), LiveGrants: live, QueueDepth: readPasses().depth}
}

// slowest are the k requests of nm that took longest to be granted.
func (b *bench) slowest(start time.Time, nm []string, lat []time.Duration, k int) []SlowGrant {
	idx := make([]int, len(nm))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(i, j int) bool { return lat[idx[i]] > lat[idx[j]] })
	out := make([]SlowGrant, 0, k)
	for _, i := range idx[:min(k, len(idx))] {
		c, _ := b.created.Load(nm[i])
		kind := "auto"
		if i%2 == 1 {
			kind = "one approval"
		}
		out = append(out, SlowGrant{Name: nm[i], Kind: kind, CreatedAtS: c.(time.Time).Sub(start).Seconds(), Ms: ms(lat[i])})
		logf("sustained: slow grant %s (%s) created at +%.1fs, granted after %s", nm[i], kind, c.(time.Time).Sub(start).Seconds(),
			lat[i].Round(time.Millisecond))
	}
	return out
}
