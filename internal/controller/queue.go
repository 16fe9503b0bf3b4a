package controller

import (
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// RevocationPriority is the work-queue priority of a request whose grant
// has reached its expiresAt. Everything else is queued at priority 0 (or at
// controller-runtime's LowPriority for the initial list after a restart),
// so under overload expired grants are revoked before new requests,
// decisions and echoes of the controller's own writes are processed.
const RevocationPriority = 100

// addWithPriority queues keys at priority p. controller-runtime's priority
// queue (its default since v0.22) keeps one entry per key, at the highest
// priority it was added with; a plain rate-limiting queue ignores p.
func addWithPriority(q workqueue.TypedRateLimitingInterface[reconcile.Request], p int, keys ...reconcile.Request) {
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		pq.AddWithOpts(priorityqueue.AddOpts{Priority: &p}, keys...)
		return
	}
	for _, k := range keys {
		q.Add(k)
	}
}
