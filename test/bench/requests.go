package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// apiRequests counts every HTTP request the manager makes to the API
// server (its client, its uncached reader, its informers and its event
// recorder alike), by verb and resource, such as "POST rolebindings" or
// "PATCH accessrequests/status". Watches count as WATCH.
type apiRequests struct {
	mu sync.Mutex
	m  map[string]int64
}

func (a *apiRequests) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		a.mu.Lock()
		a.m[requestKind(req)]++
		a.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

func (a *apiRequests) snap() map[string]int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]int64, len(a.m))
	for k, v := range a.m {
		out[k] = v
	}
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// requestKind names a request by verb and resource: the path's segment
// after a namespace, or after the group version, plus a subresource.
func requestKind(req *http.Request) string {
	verb := req.Method
	if req.URL.Query().Get("watch") == "true" {
		verb = "WATCH"
	}
	seg := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	// /api/v1/... or /apis/group/version/...
	i := 2
	if len(seg) > 0 && seg[0] == "apis" {
		i = 3
	}
	if i+1 < len(seg) && seg[i] == "namespaces" && i+2 < len(seg) {
		i += 2
	}
	if i >= len(seg) {
		return verb + " " + req.URL.Path
	}
	kind := seg[i]
	if i+2 < len(seg) {
		kind += "/" + seg[i+2]
	}
	return verb + " " + kind
}

// perGrant is the difference between two snapshots per grant.
func perGrant(a, b map[string]int64, n int) map[string]float64 {
	out := map[string]float64{}
	for k, d := range diff(a, b) {
		out[k] = float64(d) / float64(n)
	}
	return out
}

// profileAPIServer fetches a CPU profile of the kube-apiserver over the
// next seconds (its /debug/pprof, on by default) into path; the result
// waits for it.
func profileAPIServer(cfg *rest.Config, seconds int, path string) func() {
	if seconds <= 0 || path == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			logf("apiserver profile: %v", err)
			return
		}
		resp, err := hc.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimSuffix(cfg.Host, "/"), seconds))
		if err != nil {
			logf("apiserver profile: %v", err)
			return
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %s", resp.Status, b)
		}
		if err == nil {
			err = os.WriteFile(path, b, 0o644)
		}
		if err != nil {
			logf("apiserver profile: %v", err)
			return
		}
		logf("wrote the kube-apiserver's CPU profile (%ds) to %s", seconds, path)
	}()
	return func() { <-done }
}
