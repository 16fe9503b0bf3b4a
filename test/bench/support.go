package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// writes counts the manager client's writes by verb, and the time they
// take (from the call to the response, so client-side waits included).
type writes struct {
	mu sync.Mutex
	m  map[string]int64
	d  map[string]time.Duration
}

func (w *writes) count(v string, f func() error) error {
	start := time.Now()
	err := f()
	w.mu.Lock()
	w.m[v]++
	w.d[v] += time.Since(start)
	w.mu.Unlock()
	return err
}

func (w *writes) snap() map[string]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int64{}
	for k, v := range w.m {
		out[k] = v
	}
	return out
}

func (w *writes) times() map[string]time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]time.Duration{}
	for k, v := range w.d {
		out[k] = v
	}
	return out
}

// meanMs is the mean time per write by verb between two snapshots.
func meanMs(c0, c1 map[string]int64, d0, d1 map[string]time.Duration) map[string]float64 {
	out := map[string]float64{}
	for k, n := range c1 {
		if dn := n - c0[k]; dn > 0 {
			out[k] = math.Round(ms(d1[k]-d0[k])/float64(dn)*10) / 10
		}
	}
	return out
}

func (w *writes) funcs() *interceptor.Funcs {
	return &interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			return w.count("create", func() error { return c.Create(ctx, o, opts...) })
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			return w.count("update", func() error { return c.Update(ctx, o, opts...) })
		},
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			return w.count("patch", func() error { return c.Patch(ctx, o, p, opts...) })
		},
		Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
			return w.count("delete", func() error { return c.Delete(ctx, o, opts...) })
		},
		DeleteAllOf: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteAllOfOption) error {
			return w.count("deleteAllOf", func() error { return c.DeleteAllOf(ctx, o, opts...) })
		},
		SubResourceCreate: func(
			ctx context.Context, c client.Client, sub string, o, s client.Object, opts ...client.SubResourceCreateOption,
		) error {
			return w.count(sub+"Create", func() error { return c.SubResource(sub).Create(ctx, o, s, opts...) })
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
			return w.count(sub+"Update", func() error { return c.SubResource(sub).Update(ctx, o, opts...) })
		},
		SubResourcePatch: func(
			ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption,
		) error {
			return w.count(sub+"Patch", func() error { return c.SubResource(sub).Patch(ctx, o, p, opts...) })
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
	// recorded is when the request's status first shows revokedAt, and
	// released when it also no longer holds rolegate's finalizer.
	recorded map[string]time.Time
	released map[string]time.Time
}

func (o *observer) onRequest(obj any) {
	ar, ok := obj.(*accessv1alpha1.AccessRequest)
	if !ok {
		return
	}
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, seen := o.recorded[ar.Name]; !seen && ar.Status.RevokedAt != nil {
		o.recorded[ar.Name] = now
	}
	if _, seen := o.released[ar.Name]; !seen && ar.Status.RevokedAt != nil && !slices.Contains(ar.Finalizers, accessv1alpha1.RevokeFinalizer) {
		o.released[ar.Name] = now
	}
	c := meta.FindStatusCondition(ar.Status.Conditions, accessv1alpha1.ConditionReady)
	if c == nil || c.Reason != accessv1alpha1.ReasonGranted {
		return
	}
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

// procStatus reads a field of /proc/self/status in MiB (VmHWM: peak RSS,
// VmRSS: current RSS); 0 where there is none.
func procStatus(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field+":" {
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

// median of xs: the middle one, or the mean of the two in the middle.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}

// medianRun returns the run whose figure is nearest the median of all
// runs' figures (the median run of an odd count), and those figures.
func medianRun[T any](runs []T, figure func(T) float64) (T, []float64) {
	fs := make([]float64, len(runs))
	for i, r := range runs {
		fs[i] = figure(r)
	}
	m := median(fs)
	best := 0
	for i, f := range fs {
		if math.Abs(f-m) < math.Abs(fs[best]-m) {
			best = i
		}
	}
	return runs[best], fs
}

// rounded is m with each figure to one decimal, for the log.
func rounded(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = math.Round(v*10) / 10
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
