package controller

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// RecordPriority is the priority of the pass that records a revocation
// (status, audit line, event, finalizer) after the expired grant's
// RoleBinding was deleted: after every pending revocation, before new work.
const RecordPriority = RevocationPriority - 1

// recordAfter is how soon the recording pass becomes ready; its priority,
// not this delay, puts it behind the revocations still queued.
const recordAfter = time.Millisecond

// fired remembers the requests the schedule queued at their expiry until
// a worker picks them up, and then the ones whose bindings that worker
// deleted until their record pass.
type fired struct {
	mu        sync.Mutex
	keys      map[types.NamespacedName]struct{}
	recording map[types.NamespacedName]struct{}
}

func (f *fired) add(k types.NamespacedName) { f.put(&f.keys, k) }

// take reports whether k was fired, and forgets it.
func (f *fired) take(k types.NamespacedName) bool { return f.pop(&f.keys, k) }

// revoked marks k's next pass as its record pass.
func (f *fired) revoked(k types.NamespacedName) { f.put(&f.recording, k) }

// takeRecording reports whether this pass of k records its revocation,
// and forgets it.
func (f *fired) takeRecording(k types.NamespacedName) bool { return f.pop(&f.recording, k) }

func (f *fired) put(m *map[types.NamespacedName]struct{}, k types.NamespacedName) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *m == nil {
		*m = map[types.NamespacedName]struct{}{}
	}
	(*m)[k] = struct{}{}
}

func (f *fired) pop(m *map[types.NamespacedName]struct{}, k types.NamespacedName) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := (*m)[k]
	delete(*m, k)
	return ok
}

// revokeFirst runs the pass of a request queued at its expiry in three
// steps: this pass deletes the RoleBindings of a grant that the policy says
// has expired and nothing else, and queues the request again at
// RecordPriority for the ordinary reconcile that writes the status (Expired,
// revokedAt), the audit line and the event; the watch event of that status
// write brings the request back at the ordinary priority, and that pass
// releases the finalizer.
//
// During a clustered expiry every binding is gone before the first status
// is written, so revocation takes about as long as deleting the bindings;
// and every revocation is recorded before the first finalizer is released,
// so recording takes one request write per grant, not two. The API writes
// are the same as in one pass.
type revokeFirst struct {
	*AccessRequestReconciler
	fired *fired
	fresh *freshness
}

// Reconcile is AccessRequestReconciler.Reconcile, with the revocation of a
// fired expiry first.
// A pass that would read a request older than its own last write is
// skipped (see freshness).
func (r revokeFirst) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if r.fresh.behind(ctx, r.Client, req.NamespacedName) {
		return ctrl.Result{}, nil
	}
	if r.fired.takeRecording(req.NamespacedName) {
		return r.reconcile(ctx, req, releaseNextPass)
	}
	if !r.fired.take(req.NamespacedName) {
		return r.AccessRequestReconciler.Reconcile(ctx, req)
	}
	revoked, err := r.revokeExpired(ctx, req.NamespacedName)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !revoked {
		return r.AccessRequestReconciler.Reconcile(ctx, req)
	}
	r.fired.revoked(req.NamespacedName)
	p := RecordPriority
	return ctrl.Result{RequeueAfter: recordAfter, Priority: &p}, nil
}

// revokeExpired deletes the bindings of a live request whose grant the
// policy says has expired (none may be left: another replica's expiry
// revoker may have deleted them; the recording still waits for
// RecordPriority, behind the revocations); it reports false (and does
// nothing) in every other case, which the ordinary reconcile handles.
func (r revokeFirst) revokeExpired(ctx context.Context, key types.NamespacedName) (bool, error) {
	ar := &accessv1alpha1.AccessRequest{}
	if err := r.Get(ctx, key, ar); err != nil || !ar.DeletionTimestamp.IsZero() || policy.Closed(ar) {
		return false, nil
	}
	w, err := r.observe(ctx, ar)
	if err != nil || w.ended || w.eval.Outcome != policy.OutcomeExpired {
		return false, nil
	}
	if err := r.deleteBindings(ctx, w.bindings); err != nil {
		return false, err
	}
	return true, nil
}
