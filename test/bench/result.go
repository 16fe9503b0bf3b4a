package main

// Result is what -out receives. Keys are stable: scripts and
// docs/performance.md read them.
type Result struct {
	Config    Config          `json:"config"`
	Server    Server          `json:"server"`
	Ceiling   Ceiling         `json:"ceiling"`
	Grant     Grants          `json:"grant"`
	Expiry    Expiry          `json:"expiry"`
	Sustained *Sustained      `json:"sustained,omitempty"`
	Memory    Memory          `json:"memory"`
	Targets   map[string]bool `json:"targets"`
}

// Config is how the run was set up.
type Config struct {
	N           int     `json:"n"`
	Concurrency int     `json:"concurrency"`
	Workers     int     `json:"workers"`
	QPS         float64 `json:"qps"`
	Burst       int     `json:"burst"`
	Clustered   []int   `json:"clustered"`
	// CeilingSweep is the raw client's concurrencies.
	CeilingSweep []int `json:"ceiling_sweep"`
}

// Server is what limits the API server and the machine.
type Server struct {
	Cores      int `json:"cores"`
	GOMAXPROCS int `json:"gomaxprocs"`
	// The kube-apiserver's own limits (flag values; "default" when envtest
	// leaves them at kube-apiserver's defaults of 400 and 200).
	MaxRequestsInflight         string `json:"max_requests_inflight"`
	MaxMutatingRequestsInflight string `json:"max_mutating_requests_inflight"`
	PriorityAndFairness         string `json:"priority_and_fairness"`
}

// Ceiling is a raw client without rate limit doing what the auto path does
// (create the request as the requester through admission, create the
// RoleBinding, write the Granted status), at each concurrency of the sweep.
// Count, Seconds and CreatesPerS are the best point's, at Concurrency.
type Ceiling struct {
	Count       int            `json:"count"`
	Seconds     float64        `json:"seconds"`
	CreatesPerS float64        `json:"creates_per_s"`
	Concurrency int            `json:"concurrency"`
	Sweep       []CeilingPoint `json:"sweep"`
	// Repeats is each run at Concurrency (-repeat); CreatesPerS is their
	// median.
	Repeats []float64 `json:"repeats,omitempty"`
	// WithEvents is the same sweep with the Kubernetes Events rolegate
	// writes per auto grant added to each request's writes.
	WithEvents *CeilingEvents `json:"with_events,omitempty"`
}

// CeilingEvents is the ceiling whose requests also create the Events of an
// auto grant (Validated, Approved, Granted): all the writes rolegate makes
// per grant.
type CeilingEvents struct {
	// EventsPerRequest is the auto phase's events per grant, rounded.
	EventsPerRequest int            `json:"events_per_request"`
	CreatesPerS      float64        `json:"creates_per_s"`
	Concurrency      int            `json:"concurrency"`
	Repeats          []float64      `json:"repeats,omitempty"`
	Sweep            []CeilingPoint `json:"sweep"`
}

// CeilingPoint is the raw client at one concurrency.
type CeilingPoint struct {
	Concurrency int     `json:"concurrency"`
	Count       int     `json:"count"`
	Seconds     float64 `json:"seconds"`
	PerS        float64 `json:"per_s"`
	// CPUMsPerRequest is the CPU time per request of the bench process,
	// kube-apiserver and etcd.
	CPUMsPerRequest map[string]float64 `json:"cpu_ms_per_request"`
	Repeats         []float64          `json:"-"`
}

// RawDeletePoint is the raw delete of N RoleBindings (or the raw record
// of N revocations) at one concurrency.
type RawDeletePoint struct {
	Concurrency int     `json:"concurrency"`
	Ms          float64 `json:"ms"`
}

// Grants are the grant phase's two sub-phases.
type Grants struct {
	Auto  Phase   `json:"auto"`
	Human Phase   `json:"human"`
	PerS  float64 `json:"per_s"`
}

// Phase is one grant sub-phase.
type Phase struct {
	Count   int     `json:"count"`
	Seconds float64 `json:"seconds"`
	PerS    float64 `json:"per_s"`
	// CreateSeconds is how long the load took to create the requests (and
	// decisions): well below Seconds, rolegate and not the load was the limit.
	CreateSeconds  float64 `json:"create_seconds"`
	RatioToCeiling float64 `json:"ratio_to_ceiling"`
	// RatioToCeilingWithEvents compares with ceiling.with_events, whose
	// requests make every write rolegate makes, Events included.
	RatioToCeilingWithEvents float64 `json:"ratio_to_ceiling_with_events"`
	// EventsPerGrant is how many Kubernetes Events (events.k8s.io) the
	// phase's requests had when all were granted; the manager writes them
	// through the event recorder, outside the counted writes.
	EventsPerGrant float64          `json:"events_per_grant"`
	P50Ms          float64          `json:"p50_ms"`
	P95Ms          float64          `json:"p95_ms"`
	P99Ms          float64          `json:"p99_ms"`
	Writes         int64            `json:"writes"`
	WritesPerGrant float64          `json:"writes_per_grant"`
	WritesByVerb   map[string]int64 `json:"writes_by_verb"`
	// WriteMsByVerb is the mean time of one manager write, by verb.
	WriteMsByVerb map[string]float64 `json:"write_ms_by_verb"`
	Passes        *Passes            `json:"passes"`
	// Repeats is the rate of each run of the phase (-repeat); the phase's
	// figures are those of the median run.
	Repeats []float64 `json:"repeats,omitempty"`
	// RequestsPerGrant is every HTTP request of the manager (reads,
	// watches and Events included) per grant, by verb and resource.
	RequestsPerGrant map[string]float64 `json:"requests_per_grant"`
	// CPUMsPerGrant is the CPU time per grant of the bench process
	// (manager, webhooks, load, observer), kube-apiserver and etcd, from
	// the first create until every request of the phase was granted.
	CPUMsPerGrant map[string]float64 `json:"cpu_ms_per_grant"`
}

// Passes is the AccessRequest controller's work during a phase, from
// controller-runtime's own metrics.
type Passes struct {
	// Total reconciles, and PerRequest per request of the phase.
	Total      float64 `json:"total"`
	PerRequest float64 `json:"per_request"`
	// ByResult splits them as controller-runtime does: success,
	// requeue_after (a RequeueAfter: expiry timers, conflict retries, the
	// revocation's recording pass), requeue, error.
	ByResult map[string]float64 `json:"by_result"`
	// QueueAdds counts keys added to the work queue; Requeues the adds with
	// a delay (RequeueAfter or rate-limited retry); Errors the failed passes.
	QueueAdds float64 `json:"queue_adds"`
	Requeues  float64 `json:"requeues"`
	Errors    float64 `json:"errors"`
	// MeanQueueMs is how long a key waited in the queue once ready, and
	// MeanWorkMs how long a pass took, on average.
	MeanQueueMs float64 `json:"mean_queue_ms"`
	MeanWorkMs  float64 `json:"mean_work_ms"`
}

// Expiry holds the clustered expiries by size.
type Expiry struct {
	Clustered map[string]*Clustered `json:"clustered"`
}

// Clustered is one clustered expiry: N grants sharing one expiresAt second.
type Clustered struct {
	N int `json:"n"`
	// Error says why this size was not measured (granting took longer
	// than the window before the shared expiry).
	Error string  `json:"error,omitempty"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// Repeats is the p99 of each run (-repeat, up to -repeat-max-size); the
	// figures are the median run's.
	Repeats []float64 `json:"repeats,omitempty"`
	// RawDeleteMs is how long the raw client takes to delete N RoleBindings
	// on the same server: the fastest point of RawDeleteSweep, at
	// RawDeleteConcurrency.
	RawDeleteMs          float64          `json:"raw_delete_ms"`
	RawDeleteConcurrency int              `json:"raw_delete_concurrency"`
	RawDeleteSweep       []RawDeletePoint `json:"raw_delete_sweep"`
	// RawDeleteRepeats is each run at RawDeleteConcurrency (-repeat);
	// RawDeleteMs is their median.
	RawDeleteRepeats    []float64 `json:"raw_delete_repeats,omitempty"`
	RatioP99ToRawDelete float64   `json:"ratio_p99_to_raw_delete"`
	// RecordedP99Ms is expiresAt → status.revokedAt seen, p99: when the
	// revocation is recorded, after the binding is gone.
	RecordedP99Ms float64 `json:"recorded_p99_ms"`
	// ReleasedP99Ms is expiresAt → the finalizer seen gone, p99.
	ReleasedP99Ms float64 `json:"released_p99_ms"`
	// RawRecordMs is how long the raw client takes to write a revocation
	// into N requests' status: the fastest point of RawRecordSweep.
	RawRecordMs    float64          `json:"raw_record_ms"`
	RawRecordSweep []RawDeletePoint `json:"raw_record_sweep"`
	// RatioRecordedP99ToRaw is RecordedP99Ms ÷ (RawDeleteMs + RawRecordMs):
	// against the raw client deleting the bindings, then writing the
	// statuses.
	RatioRecordedP99ToRaw float64            `json:"ratio_recorded_p99_to_raw"`
	WritesPerRevocation   float64            `json:"writes_per_revocation"`
	WritesByVerb          map[string]int64   `json:"writes_by_verb"`
	WriteMsByVerb         map[string]float64 `json:"write_ms_by_verb"`
	// Passes counts the reconciles from 1 s before the shared expiry until
	// every finalizer is released (writes likewise).
	Passes *Passes `json:"passes"`
}

// Sustained is the steady mixed load.
type Sustained struct {
	Seconds     float64 `json:"seconds"`
	RatePerS    float64 `json:"rate_per_s"`
	Requests    int     `json:"requests"`
	GrantP50Ms  float64 `json:"grant_p50_ms"`
	GrantP99Ms  float64 `json:"grant_p99_ms"`
	ExpiryP50Ms float64 `json:"expiry_p50_ms"`
	ExpiryP99Ms float64 `json:"expiry_p99_ms"`
	ExpiryMaxMs float64 `json:"expiry_max_ms"`
	Passes      *Passes `json:"passes"`
	// Slowest are the five requests granted last after their creation.
	Slowest      []SlowGrant `json:"slowest"`
	MemorySample []MemSample `json:"memory_samples"`
}

// SlowGrant is one slow request of the sustained load.
type SlowGrant struct {
	Name       string  `json:"name"`
	Kind       string  `json:"kind"`
	CreatedAtS float64 `json:"created_at_s"`
	Ms         float64 `json:"ms"`
}

// MemSample is the bench process's memory at one moment of the sustained load.
type MemSample struct {
	AtS         float64 `json:"at_s"`
	RSSMB       float64 `json:"rss_mb"`
	HeapInuseMB float64 `json:"heap_inuse_mb"`
	LiveGrants  int     `json:"live_grants"`
	// QueueDepth is the AccessRequest controller's ready work.
	QueueDepth float64 `json:"queue_depth"`
}

// Memory is the bench process's memory (manager, webhooks, load clients
// and the observer's informers; not kube-apiserver or etcd).
type Memory struct {
	RSSPeakMB       float64 `json:"rss_peak_mb"`
	HeapInusePeakMB float64 `json:"heap_inuse_peak_mb"`
	// HeapPer1kGrantsMB is the growth of the heap after GC per 1000 live
	// grants over the grant phase (manager cache and the observer's).
	HeapPer1kGrantsMB     float64 `json:"heap_per_1k_grants_mb"`
	UnrelatedBindings     int     `json:"unrelated_bindings"`
	UnrelatedHeapGrowthMB float64 `json:"unrelated_heap_growth_mb"`
}
