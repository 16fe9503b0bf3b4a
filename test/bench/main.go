// Command bench measures rolegate's real manager (webhooks on, default
// settings) against a local envtest API server, and compares every figure
// with what the same API server does for a raw client without a
// client-side rate limit. See docs/performance.md.
//
//	KUBEBUILDER_ASSETS=... go run ./test/bench -n 2000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/test/utils"
)

var (
	flagN    = flag.Int("n", 2000, "AccessRequests in the grant phase (half auto-approved, half human-approved)")
	flagConc = flag.Int("concurrency", 16,
		"load goroutines (the default matches the manager's default workers, so the load offers more than rolegate grants)")
	flagWorkers   = flag.Int("workers", app.DefaultMaxConcurrentReconciles, "manager MaxConcurrentReconciles")
	flagQPS       = flag.Float64("qps", app.DefaultKubeAPIQPS, "manager client QPS (<= 0: no client-side limit)")
	flagBurst     = flag.Int("burst", app.DefaultKubeAPIBurst, "manager client burst")
	flagOut       = flag.String("out", "bench-result.json", "JSON result file")
	flagUnrelated = flag.Int("unrelated", 0, "unrelated RoleBindings to create for the cache-scoping check (0 = skip)")
	flagRecheck   = flag.Duration("recheck-interval", 0, "manager RecheckInterval (0 = default)")
	flagClustered = flag.String("clustered", "100,1000,5000",
		"sizes of the clustered expiries (grants sharing one expiresAt second), comma-separated; empty skips")
	flagSweep = flag.String("ceiling-sweep", "4,16,64",
		"concurrencies of the raw client for the ceiling and the raw delete time, comma-separated; the best counts")
	flagSustain = flag.Duration("sustain", 3*time.Minute, "length of the sustained mixed load (0 skips it)")
	flagRate    = flag.Float64("sustain-rate", 20, "new requests per second in the sustained load (half auto, half approved)")
	flagRepeat  = flag.Int("repeat", 3,
		"measure the auto grant rate, the ceiling's and the raw delete's best points, and clustered expiries of up to "+
			"-repeat-max-size grants this many times; each figure is the median")
	flagRepeatMax = flag.Int("repeat-max-size", 1000, "largest clustered expiry that -repeat repeats")
	flagProfile   = flag.String("cpuprofile", "", "write a CPU profile of the bench process (manager, webhooks, load) to this file")
	flagAPIProf   = flag.String("apiserver-cpuprofile", "",
		"write a CPU profile of the kube-apiserver, taken over the first -apiserver-profile-seconds of the auto grant phase, to this file")
	flagAPIProfSecs = flag.Int("apiserver-profile-seconds", 10, "length of the kube-apiserver's CPU profile")
	flagLife        = flag.Duration("sustain-duration", 20*time.Second,
		"spec.duration of the sustained load's requests, so they expire during the run")
)

func main() {
	flag.Parse()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "bench: KUBEBUILDER_ASSETS is not set; run `make bench`")
		os.Exit(1)
	}
	sizes, err := parseSizes(*flagClustered)
	must(err, "-clustered")
	sweep, err := parseSizes(*flagSweep)
	must(err, "-ceiling-sweep")
	if *flagRepeat < 1 {
		must(fmt.Errorf("%d is less than 1", *flagRepeat), "-repeat")
	}
	if len(sweep) == 0 {
		must(fmt.Errorf("no concurrency given"), "-ceiling-sweep")
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	root, err := utils.RepoRoot()
	must(err, "finding the repository")

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}},
	}
	cfg, err := env.Start()
	must(err, "starting envtest")
	b := newBench(context.Background(), env, cfg, sizes, sweep)
	stopProfile := startProfile(*flagProfile)
	res := b.run()
	stopProfile()
	_ = env.Stop()
	report(res)
	out, _ := json.MarshalIndent(res, "", "  ")
	must(os.WriteFile(*flagOut, append(out, '\n'), 0o644), "writing "+*flagOut)
	logf("wrote %s", *flagOut)
}

// parseSizes reads -clustered and -ceiling-sweep.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number; write a list such as 100,1000,5000", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// startProfile starts a CPU profile when path is set; the result stops it.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path) //nolint:gosec // the developer names the profile file

	must(err, "-cpuprofile")
	must(pprof.StartCPUProfile(f), "-cpuprofile")
	return func() { pprof.StopCPUProfile(); _ = f.Close() }
}
