package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func benchRequest(name string, expiresAt *time.Time) *accessv1alpha1.AccessRequest {
	ar := &accessv1alpha1.AccessRequest{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name}}
	if expiresAt != nil {
		ar.Status.ExpiresAt = &metav1.Time{Time: *expiresAt}
	}
	return ar
}

// TestExpiredGrantsJumpACreationFlood queues a flood of new requests the
// way the controller's watch does, then lets a clustered expiry arrive: the
// workers must get every expired grant before any of the flood, including
// an expired grant that was already queued at normal priority. Grants that
// have not expired keep their place.
func TestExpiredGrantsJumpACreationFlood(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	q := priorityqueue.New[reconcile.Request]("expiry-test")
	defer q.ShutDown()
	src := newExpirySchedule(clk)
	src.queue = q
	sched := src.handler()
	flood := handler.EnqueueRequestForObject{}

	expiry := t0.Add(10 * time.Second)
	later := t0.Add(time.Hour)
	expired := map[types.NamespacedName]bool{}
	for i := range 50 {
		ar := benchRequest(fmt.Sprintf("grant-%02d", i), &expiry)
		sched.Create(ctx, event.TypedCreateEvent[client.Object]{Object: ar}, q)
		expired[client.ObjectKeyFromObject(ar)] = true
	}
	// One expiring grant also has an ordinary update queued (say an echo of
	// its last status write) before the flood.
	flood.Update(ctx, event.UpdateEvent{ObjectOld: benchRequest("grant-07", &expiry), ObjectNew: benchRequest("grant-07", &expiry)}, q)
	sched.Create(ctx, event.TypedCreateEvent[client.Object]{Object: benchRequest("long", &later)}, q)
	for i := range 1000 {
		flood.Create(ctx, event.CreateEvent{Object: benchRequest(fmt.Sprintf("new-%04d", i), nil)}, q)
	}
	if wait, ok := src.enqueueDue(); !ok || wait != 10*time.Second {
		t.Fatalf("before expiry: next in %s (%v), want 10s", wait, ok)
	}
	clk.SetTime(expiry)
	if wait, ok := src.enqueueDue(); !ok || wait != time.Hour-10*time.Second {
		t.Fatalf("after expiry: next in %s (%v), want the long grant's", wait, ok)
	}
	if n := q.Len(); n != 1050 {
		t.Fatalf("queue holds %d requests, want 1000 new + 50 expired (one entry each)", n)
	}
	for i := range 1050 {
		item, prio, shutdown := q.GetWithPriority()
		if shutdown {
			t.Fatal("queue shut down")
		}
		q.Done(item)
		if got := expired[item.NamespacedName]; got != (i < 50) {
			t.Fatalf("item %d is %s (priority %d): the 50 expired grants must come first", i, item.NamespacedName, prio)
		}
		if i < 50 && prio != RevocationPriority {
			t.Fatalf("expired grant %s at priority %d, want %d", item.NamespacedName, prio, RevocationPriority)
		}
	}
}

// TestExpiryScheduleFollowsStatus moves, forgets and re-adds expiries as
// the status changes.
func TestExpiryScheduleFollowsStatus(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	q := priorityqueue.New[reconcile.Request]("expiry-status-test")
	defer q.ShutDown()
	s := newExpirySchedule(clk)
	s.queue = q

	soon, later := t0.Add(time.Minute), t0.Add(time.Hour)
	s.observe(benchRequest("moved", &soon))
	s.observe(benchRequest("moved", &later)) // extended
	s.observe(benchRequest("revoked", &soon))
	revoked := benchRequest("revoked", &soon)
	revoked.Status.RevokedAt = &metav1.Time{Time: t0}
	s.observe(revoked)
	s.observe(benchRequest("deleted", &soon))
	s.forget(types.NamespacedName{Namespace: "team", Name: "deleted"})
	s.observe(benchRequest("pending", nil))

	clk.SetTime(soon)
	if wait, ok := s.enqueueDue(); !ok || wait != later.Sub(soon) {
		t.Fatalf("next in %s (%v), want the moved grant's %s", wait, ok, later.Sub(soon))
	}
	if n := q.Len(); n != 0 {
		t.Fatalf("%d requests queued at the old time; moved, revoked, deleted and pending ones must not be", n)
	}
	clk.SetTime(later)
	if _, ok := s.enqueueDue(); ok {
		t.Fatal("an expiry is still scheduled after the last one fired")
	}
	item, prio, _ := q.GetWithPriority()
	q.Done(item)
	if item.Name != "moved" || prio != RevocationPriority {
		t.Fatalf("got %s at priority %d, want moved at %d", item.Name, prio, RevocationPriority)
	}
}
