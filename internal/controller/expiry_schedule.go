package controller

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// expirySchedule queues each live grant at RevocationPriority when its
// recorded status.expiresAt arrives. It only orders work: the reconcile
// still decides, from the policy, whether the grant has ended (a request
// whose expiresAt moved is rescheduled from its next status).
//
// A reconcile's own RequeueAfter would bring the request back at the
// priority it was last dequeued with, which is 0 for a new request, 0 for
// an echo of its own status write and LowPriority for the initial list
// after a restart; so without this schedule a clustered expiry waits behind
// every creation queued before it.
//
// Memory: one map entry and one heap entry per live request with an
// expiresAt (about 150 bytes).
type expirySchedule struct {
	clock clock.Clock

	mu    sync.Mutex
	due   map[types.NamespacedName]time.Time
	order expiryHeap
	queue workqueue.TypedRateLimitingInterface[reconcile.Request]
	// fired tells the reconciler which requests were queued at expiry.
	fired fired
	// wake is signalled when an earlier expiry is scheduled.
	wake chan struct{}
}

func newExpirySchedule(clk clock.Clock) *expirySchedule {
	return &expirySchedule{clock: clk, due: map[types.NamespacedName]time.Time{}, wake: make(chan struct{}, 1)}
}

// observe schedules, moves or forgets the expiry of a request from what
// its status records.
func (s *expirySchedule) observe(obj client.Object) {
	ar, ok := obj.(*accessv1alpha1.AccessRequest)
	if !ok {
		return
	}
	key := client.ObjectKeyFromObject(ar)
	if ar.Status.ExpiresAt == nil || policy.Closed(ar) || !ar.DeletionTimestamp.IsZero() {
		s.forget(key)
		return
	}
	s.set(key, ar.Status.ExpiresAt.Time)
}

func (s *expirySchedule) set(key types.NamespacedName, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.due[key]; ok && old.Equal(at) {
		return
	}
	s.due[key] = at
	heap.Push(&s.order, expiryEntry{at: at, key: key})
	if s.order[0].key == key && s.order[0].at.Equal(at) {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *expirySchedule) forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The heap entry stays until it comes up; enqueueDue skips it.
	delete(s.due, key)
}

// enqueueDue queues every request whose expiry has arrived at
// RevocationPriority, and returns how long until the next one (false when
// none is scheduled). Before the controller has started, nothing is queued.
func (s *expirySchedule) enqueueDue() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queue == nil {
		return 0, false
	}
	now := s.clock.Now()
	var keys []reconcile.Request
	for len(s.order) > 0 {
		next := s.order[0]
		if at, live := s.due[next.key]; !live || !at.Equal(next.at) {
			heap.Pop(&s.order) // forgotten or moved
			continue
		}
		if next.at.After(now) {
			break
		}
		heap.Pop(&s.order)
		delete(s.due, next.key)
		s.fired.add(next.key)
		keys = append(keys, reconcile.Request{NamespacedName: next.key})
	}
	addWithPriority(s.queue, RevocationPriority, keys...)
	if len(s.order) == 0 {
		return 0, false
	}
	return s.order[0].at.Sub(now), true
}

// run queues expiries as they arrive until ctx ends.
func (s *expirySchedule) run(ctx context.Context) {
	for {
		wait, ok := s.enqueueDue()
		var fire <-chan time.Time
		var timer clock.Timer
		if ok {
			timer = s.clock.NewTimer(wait)
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-fire:
		case <-s.wake:
			if timer != nil {
				timer.Stop()
			}
		}
	}
}

// handler keeps the schedule in step with the AccessRequests the cache
// sees; it queues nothing itself.
func (s *expirySchedule) handler() handler.TypedEventHandler[client.Object, reconcile.Request] {
	type q = workqueue.TypedRateLimitingInterface[reconcile.Request]
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[client.Object], _ q) { s.observe(e.Object) },
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[client.Object], _ q) { s.observe(e.ObjectNew) },
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[client.Object], _ q) {
			s.forget(client.ObjectKeyFromObject(e.Object))
		},
	}
}

// expirySource is the controller's source for the schedule: it watches
// AccessRequests through the cache, and from Start on queues the due ones
// into the controller's queue.
type expirySource struct {
	source.SyncingSource
	sched *expirySchedule
	// handoff is taken over once the schedule has synced: from then on this
	// replica's ExpiryRevoker leaves revocation to the controller.
	handoff *ExpiryHandoff
}

func newExpirySource(c cache.Cache, clk clock.Clock, handoff *ExpiryHandoff) *expirySource {
	s := newExpirySchedule(clk)
	return &expirySource{SyncingSource: source.Kind[client.Object](c, &accessv1alpha1.AccessRequest{}, s.handler()),
		sched: s, handoff: handoff}
}

// reconciler wraps r so that the requests this source queues at their
// expiry are revoked first (see revokeFirst), and passes that would read
// a request older than r's own last write are skipped (see freshness).
func (e *expirySource) reconciler(r *AccessRequestReconciler) revokeFirst {
	f := &freshness{}
	r.Client = freshClient{Client: r.Client, fresh: f}
	return revokeFirst{AccessRequestReconciler: r, fired: &e.sched.fired, fresh: f}
}

// Start hands the schedule the controller's queue and starts its timer.
func (e *expirySource) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	e.sched.mu.Lock()
	e.sched.queue = q
	e.sched.mu.Unlock()
	go e.sched.run(ctx)
	return e.SyncingSource.Start(ctx, q)
}

// WaitForSync waits for the AccessRequests to be in the cache, hence every
// live grant's expiry in the schedule, and then takes the handoff over.
func (e *expirySource) WaitForSync(ctx context.Context) error {
	if err := e.SyncingSource.WaitForSync(ctx); err != nil {
		return err
	}
	e.handoff.takeOver()
	return nil
}

type expiryEntry struct {
	at  time.Time
	key types.NamespacedName
}

// expiryHeap orders entries by time, earliest first.
type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// timerClock is c when it can also run timers (the real clock, a test's
// fake clock), else the real clock.
func timerClock(c clock.PassiveClock) clock.Clock {
	if cc, ok := c.(clock.Clock); ok {
		return cc
	}
	return clock.RealClock{}
}
