// Package notify tells the notification targets of an ApprovalPolicy
// (spec.notify: signed JSON webhooks and Slack incoming webhooks) about
// moments in a request's life: pending, escalated, granted, break-glass,
// expiring and revoked.
//
// The Dispatcher never blocks its caller: Notify resolves the policy's
// targets and queues one delivery per target; workers deliver with retries
// and keep, per policy and target, whether the last notification was
// accepted. Condition turns that into the policy's NotificationsDelivered
// condition, and Changes tells the ApprovalPolicy controller when it moved.
package notify

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/internal/policy"
)

// The manager reads notification Secrets (signing keys, Slack URLs) in its
// own namespace only.
// +kubebuilder:rbac:groups="",namespace=rolegate-system,resources=secrets,verbs=get

// Defaults of Options.
const (
	DefaultQueueSize      = 1000
	DefaultWorkers        = 4
	DefaultAttemptTimeout = 10 * time.Second
	// DedupeWindow is how long an accepted Key suppresses the same notification.
	DedupeWindow = 24 * time.Hour
)

// Notification is one moment in a request's life, told to the policy's
// targets that subscribe to its Event.
type Notification struct {
	// Event is what happened.
	Event accessv1alpha1.NotificationEvent
	// Policy is the name of the ApprovalPolicy whose targets hear about it.
	Policy string
	// Request identifies the AccessRequest.
	Request RequestRef
	// ServiceAccount receives the access, as "namespace/name".
	ServiceAccount string
	// Role is the requested role, as "Role/db-migrator" or "ClusterRole/view".
	Role string
	// Requester is the username of whoever asked.
	Requester string
	// Tier is the approver tier that decides now.
	Tier string
	// Recipients are who should act (for example the deciding tier's subjects).
	Recipients []accessv1alpha1.Subject
	// ExpiresAt is when the access ends, once granted.
	ExpiresAt *time.Time
	// Links are the request's ticket links under its policy
	// (policy.TicketLinks).
	Links []policy.TicketLink
	// Message is a human sentence describing what happened.
	Message string
	// Time is when it happened; zero means when Notify is called.
	Time time.Time
	// Targets restricts delivery to these target names (they must still
	// subscribe to Event); empty means every subscribed target.
	Targets []string
	// Key deduplicates: a target that accepted a notification with this Key
	// into its queue in this process within DedupeWindow does not get it
	// again. Empty means no deduplication.
	Key string
}

// RequestRef identifies an AccessRequest.
type RequestRef struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	UID       types.UID `json:"uid,omitempty"`
}

// Backoff is the retry schedule of a delivery: the first retry waits
// Initial, each next one Factor times longer, never more than Max; a
// delivery gets Attempts tries in all.
type Backoff struct {
	Initial  time.Duration
	Factor   float64
	Max      time.Duration
	Attempts int
}

// DefaultBackoff waits 1s, 2s, 4s and 8s between five attempts.
func DefaultBackoff() Backoff {
	return Backoff{Initial: time.Second, Factor: 2, Max: 30 * time.Second, Attempts: 5}
}

// delay is the wait before retry number n (1-based).
func (b Backoff) delay(n int) time.Duration {
	d := float64(b.Initial)
	for range n - 1 {
		d *= b.Factor
		if d >= float64(b.Max) {
			return b.Max
		}
	}
	return min(time.Duration(d), b.Max)
}

// Options configure a Dispatcher.
type Options struct {
	// Reader reads ApprovalPolicies; in the manager its cached client.
	Reader client.Reader
	// SecretReader reads Secrets; nil means Reader. In the manager the
	// uncached API reader, so that the cache does not hold every Secret.
	SecretReader client.Reader
	// Namespace holds the Secrets that targets refer to.
	Namespace string
	// HTTPClient sends the notifications; nil means a client that does not
	// follow redirects and uses the environment's proxy settings.
	HTTPClient *http.Client
	// Metrics counts failed notifications; nil counts nothing.
	Metrics *metrics.Recorder
	// Clock times retries and deduplication; nil means the real clock.
	Clock clock.Clock
	// Backoff is the retry schedule; zero fields take DefaultBackoff's.
	Backoff Backoff
	// AttemptTimeout bounds each HTTP attempt; zero means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// QueueSize bounds deliveries waiting for a worker; zero means DefaultQueueSize.
	QueueSize int
	// Workers deliver in parallel; zero means DefaultWorkers.
	Workers int
	// Logger logs deliveries; the zero value means ctrl.Log.WithName("notify").
	Logger logr.Logger
}

// Dispatcher delivers notifications to the targets of ApprovalPolicies.
// It is a manager Runnable that runs on the leader only. Every method of a
// nil *Dispatcher does nothing, so callers need not check whether
// notifications are enabled.
type Dispatcher struct {
	reader, secrets client.Reader
	namespace       string
	http            *http.Client
	metrics         *metrics.Recorder
	clock           clock.Clock
	backoff         Backoff
	attemptTimeout  time.Duration
	workers         int
	log             logr.Logger

	queue   chan delivery
	changes chan event.GenericEvent
	wake    chan struct{}

	mu        sync.Mutex
	started   bool
	accepted  map[dedupeKey]time.Time
	lastSweep time.Time
	health    map[string]map[string]*targetHealth // policy -> target -> health
	dirty     map[string]struct{}                 // policies whose health changed, not yet on changes
}

type dedupeKey struct{ key, policy, target string }

// delivery is one notification to one target.
type delivery struct {
	n      Notification
	target accessv1alpha1.NotificationTarget
	id     string
}

// New builds a Dispatcher; add it to the manager to start its workers.
func New(o Options) (*Dispatcher, error) {
	if o.Reader == nil {
		return nil, errors.New("notify: Options.Reader is required")
	}
	if o.Namespace == "" {
		return nil, errors.New("notify: Options.Namespace is required (the namespace of the notification Secrets)")
	}
	d := &Dispatcher{
		reader: o.Reader, secrets: o.SecretReader, namespace: o.Namespace, http: o.HTTPClient, metrics: o.Metrics,
		clock: o.Clock, backoff: o.Backoff, attemptTimeout: o.AttemptTimeout, workers: o.Workers, log: o.Logger,
		accepted: map[dedupeKey]time.Time{}, health: map[string]map[string]*targetHealth{}, dirty: map[string]struct{}{},
		changes: make(chan event.GenericEvent), wake: make(chan struct{}, 1),
	}
	if d.secrets == nil {
		d.secrets = d.reader
	}
	if d.http == nil {
		d.http = &http.Client{
			Transport: http.DefaultTransport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				// A redirect would turn the POST into a GET elsewhere.
				return http.ErrUseLastResponse
			},
		}
	}
	if d.clock == nil {
		d.clock = clock.RealClock{}
	}
	def := DefaultBackoff()
	if d.backoff.Initial <= 0 {
		d.backoff.Initial = def.Initial
	}
	if d.backoff.Factor < 1 {
		d.backoff.Factor = def.Factor
	}
	if d.backoff.Max <= 0 {
		d.backoff.Max = max(def.Max, d.backoff.Initial)
	}
	if d.backoff.Attempts <= 0 {
		d.backoff.Attempts = def.Attempts
	}
	if d.attemptTimeout <= 0 {
		d.attemptTimeout = DefaultAttemptTimeout
	}
	if d.workers <= 0 {
		d.workers = DefaultWorkers
	}
	size := o.QueueSize
	if size <= 0 {
		size = DefaultQueueSize
	}
	d.queue = make(chan delivery, size)
	if d.log.GetSink() == nil {
		d.log = ctrl.Log.WithName("notify")
	}
	return d, nil
}

// Notify queues n for every target of its policy that subscribes to
// n.Event (and is named in n.Targets, when set). It never waits for a
// delivery: a target whose queue is full counts a failure at once.
// Problems (no such policy, unknown target names) are logged.
func (d *Dispatcher) Notify(ctx context.Context, n Notification) {
	if d == nil {
		return
	}
	log := d.log.WithValues("policy", n.Policy, "event", n.Event,
		"accessRequest", types.NamespacedName{Namespace: n.Request.Namespace, Name: n.Request.Name})
	p := &accessv1alpha1.ApprovalPolicy{}
	if err := d.reader.Get(ctx, client.ObjectKey{Name: n.Policy}, p); err != nil {
		log.Error(err, "Dropped a notification: could not read its ApprovalPolicy")
		return
	}
	if n.Time.IsZero() {
		n.Time = d.clock.Now()
	}
	for _, name := range n.Targets {
		if !slices.ContainsFunc(p.Spec.Notify, func(t accessv1alpha1.NotificationTarget) bool { return t.Name == name }) {
			log.Info("Ignored an unknown notification target", "target", name)
		}
	}
	targets := Subscribed(p, n.Event, n.Targets)
	// The workers read n later: keep the caller's slices and time out of reach.
	n.Recipients, n.Targets = slices.Clone(n.Recipients), nil
	if n.ExpiresAt != nil {
		exp := *n.ExpiresAt
		n.ExpiresAt = &exp
	}
	for _, t := range targets {
		if !d.accept(n, t.Name) {
			log.V(1).Info("Skipped a notification the target already has", "target", t.Name, "key", n.Key)
			continue
		}
		job := delivery{n: n, target: *t.DeepCopy(), id: deliveryID(n, t.Name)}
		select {
		case d.queue <- job:
			log.V(1).Info("Queued a notification", "target", t.Name, "delivery", job.id)
		default:
			d.forget(n, t.Name)
			err := &deliveryError{msg: "the notification queue is full",
				fix: "notifications arrive faster than targets accept them; check for slow targets"}
			log.Error(err, "Dropped a notification", "target", t.Name, "delivery", job.id)
			d.failed(n.Policy, t, err)
		}
	}
}

// Subscribed returns the targets of p that hear about ev, restricted to
// the names in only when it is not empty.
func Subscribed(p *accessv1alpha1.ApprovalPolicy, ev accessv1alpha1.NotificationEvent, only []string) []accessv1alpha1.NotificationTarget {
	var out []accessv1alpha1.NotificationTarget
	for _, t := range p.Spec.Notify {
		if len(t.Events) > 0 && !slices.Contains(t.Events, ev) {
			continue
		}
		if len(only) > 0 && !slices.Contains(only, t.Name) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// accept records that target takes n, and reports false when it already
// took a notification with the same Key within DedupeWindow.
func (d *Dispatcher) accept(n Notification, target string) bool {
	if n.Key == "" {
		return true
	}
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Sub(d.lastSweep) >= time.Hour {
		for k, at := range d.accepted {
			if now.Sub(at) >= DedupeWindow {
				delete(d.accepted, k)
			}
		}
		d.lastSweep = now
	}
	k := dedupeKey{key: n.Key, policy: n.Policy, target: target}
	if at, ok := d.accepted[k]; ok && now.Sub(at) < DedupeWindow {
		return false
	}
	d.accepted[k] = now
	return true
}

// forget undoes accept for a notification that could not be queued.
func (d *Dispatcher) forget(n Notification, target string) {
	if n.Key == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.accepted, dedupeKey{key: n.Key, policy: n.Policy, target: target})
}

// Start runs the delivery workers until ctx ends. Deliveries still queued
// then are dropped.
func (d *Dispatcher) Start(ctx context.Context) error {
	if d == nil {
		<-ctx.Done()
		return nil
	}
	d.mu.Lock()
	if d.started {
		d.mu.Unlock()
		return errors.New("notify: the dispatcher was already started")
	}
	d.started = true
	d.mu.Unlock()
	var wg sync.WaitGroup
	for range d.workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case job := <-d.queue:
					d.deliver(ctx, job)
				}
			}
		})
	}
	wg.Go(func() { d.pump(ctx) })
	d.log.Info("Started notification workers", "workers", d.workers, "namespace", d.namespace)
	wg.Wait()
	if left := len(d.queue); left > 0 {
		d.log.Info("Stopped with notifications still queued; they are dropped", "queued", left)
	}
	return nil
}

// NeedLeaderElection makes only the leader notify, as only it reconciles.
func (d *Dispatcher) NeedLeaderElection() bool { return true }
