package controller

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// twoStep is a harness around revokeFirst, as expirySource.reconciler
// wires it, that counts the reconciler's writes by kind.
type twoStep struct {
	*harness
	rf     revokeFirst
	mu     sync.Mutex
	writes map[string]int
}

func newTwoStep(t *testing.T) *twoStep {
	t.Helper()
	ts := &twoStep{writes: map[string]int{}}
	count := func(kind string) {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ts.writes[kind]++
	}
	ts.harness = newHarness(t, interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if _, ok := obj.(*rbacv1.RoleBinding); ok {
				count("delete RoleBinding")
			}
			return c.Delete(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			if _, ok := obj.(*accessv1alpha1.AccessRequest); ok {
				count("patch AccessRequest")
			}
			return c.Patch(ctx, obj, p, opts...)
		},
		SubResourcePatch: func(
			ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption,
		) error {
			if _, ok := obj.(*accessv1alpha1.AccessRequest); ok {
				count("status AccessRequest")
			}
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			if _, ok := obj.(*accessv1alpha1.AccessRequest); ok {
				count("status AccessRequest")
			}
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
	f := &freshness{}
	ts.r.Client = freshClient{Client: ts.r.Client, fresh: f}
	ts.rf = revokeFirst{AccessRequestReconciler: ts.r, fired: &fired{}, fresh: f}
	return ts
}

// pass runs one pass of name, fired at its expiry or not, and returns what
// it wrote.
func (ts *twoStep) pass(t *testing.T, name string, fired bool) (ctrl.Result, map[string]int) {
	t.Helper()
	key := types.NamespacedName{Namespace: "payments", Name: name}
	if fired {
		ts.rf.fired.add(key)
	}
	ts.mu.Lock()
	ts.writes = map[string]int{}
	ts.mu.Unlock()
	res, err := ts.rf.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
	if err != nil {
		t.Fatalf("pass of %s: %v", name, err)
	}
	if ts.rf.fired.take(key) {
		t.Fatalf("the pass of %s left it marked as fired", name)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return res, ts.writes
}

// priority is a result's priority as text.
func priority(res ctrl.Result) string {
	if res.Priority == nil {
		return "none"
	}
	return strconv.Itoa(*res.Priority)
}

// grant grants view-req (an ordinary pass) and returns its expiry.
func (ts *twoStep) grant(t *testing.T) time.Time {
	t.Helper()
	if _, w := ts.pass(t, "view-req", false); w["status AccessRequest"] != 1 || len(ts.bindings(t)) != 1 {
		t.Fatalf("setup: granting wrote %v and left %d bindings", w, len(ts.bindings(t)))
	}
	ar := ts.request(t, "view-req")
	if readyReason(ar) != accessv1alpha1.ReasonGranted || ar.Status.ExpiresAt == nil {
		t.Fatalf("setup: view-req is %s, expiresAt %v", readyReason(ar), ar.Status.ExpiresAt)
	}
	_ = ts.events()
	ts.audit.Reset()
	return ar.Status.ExpiresAt.Time
}

// TestExpiredGrantIsRevokedInTwoPasses: the pass fired at a grant's expiry
// deletes its RoleBinding and writes nothing else, then asks to come back
// at RecordPriority; that second pass records Expired and revokedAt and
// announces it, with one write; the next pass (the status write's own
// watch event brings it) releases the finalizer. The writes are those of
// one ordinary pass.
func TestExpiredGrantIsRevokedInTwoPasses(t *testing.T) {
	ts := newTwoStep(t)
	ts.clock.SetTime(ts.grant(t))

	res, w := ts.pass(t, "view-req", true)
	if res.Priority == nil || *res.Priority != RecordPriority || res.RequeueAfter <= 0 {
		t.Fatalf("first pass = RequeueAfter %s, priority %s; want a requeue at RecordPriority %d", res.RequeueAfter, priority(res), RecordPriority)
	}
	if w["delete RoleBinding"] != 1 || len(w) != 1 {
		t.Fatalf("first pass wrote %v, want the RoleBinding's delete only", w)
	}
	if n := len(ts.bindings(t)); n != 0 {
		t.Fatalf("%d bindings after the first pass, want none", n)
	}
	ar := ts.request(t, "view-req")
	if readyReason(ar) != accessv1alpha1.ReasonGranted || ar.Status.RevokedAt != nil ||
		!controllerutil.ContainsFinalizer(ar, accessv1alpha1.RevokeFinalizer) {
		t.Fatalf("first pass changed the request: ready %s, revokedAt %v, finalizers %v; the status is the second pass's",
			readyReason(ar), ar.Status.RevokedAt, ar.Finalizers)
	}
	if evs, lines := ts.events(), ts.audit.String(); len(evs) != 0 || lines != "" {
		t.Fatalf("first pass announced %v / %q before the status records the revocation", evs, lines)
	}

	res, w = ts.pass(t, "view-req", false)
	if res.Priority != nil || res.RequeueAfter != 0 {
		t.Fatalf("second pass = %+v, want no requeue: its status write's watch event brings the request back", res)
	}
	if w["status AccessRequest"] != 1 || len(w) != 1 {
		t.Fatalf("second pass wrote %v, want the status only", w)
	}
	ar = ts.request(t, "view-req")
	if readyReason(ar) != accessv1alpha1.ReasonExpired || ar.Status.RevokedAt == nil ||
		!controllerutil.ContainsFinalizer(ar, accessv1alpha1.RevokeFinalizer) {
		t.Fatalf("after the second pass: ready %s, revokedAt %v, finalizers %v; want Expired, recorded, not yet released",
			readyReason(ar), ar.Status.RevokedAt, ar.Finalizers)
	}
	if evs := strings.Join(ts.events(), "\n"); !strings.Contains(evs, "Normal Expired") {
		t.Errorf("second pass emitted %q, want the Expired event", evs)
	}
	if !strings.Contains(ts.audit.String(), `"event":"Expired"`) {
		t.Errorf("second pass audited %q, want the Expired line", ts.audit.String())
	}
	ts.audit.Reset()

	res, w = ts.pass(t, "view-req", false)
	if w["patch AccessRequest"] != 1 || len(w) != 1 || res.RequeueAfter != 0 {
		t.Fatalf("third pass wrote %v (result %+v), want the finalizer's release only", w, res)
	}
	if ar = ts.request(t, "view-req"); controllerutil.ContainsFinalizer(ar, accessv1alpha1.RevokeFinalizer) || readyReason(ar) != accessv1alpha1.ReasonExpired {
		t.Fatalf("after the third pass: ready %s, finalizers %v; want Expired and released", readyReason(ar), ar.Finalizers)
	}
	if evs, lines := ts.events(), ts.audit.String(); len(evs) != 0 || lines != "" {
		t.Fatalf("releasing the finalizer announced %v / %q again", evs, lines)
	}
}

// TestFiredPassFallsThroughWhenNothingHasExpired: a pass fired at an
// expiry that the policy does not (or no longer) call expired, or on a
// request that is closed or being deleted, is the ordinary reconcile, in
// one pass and without a second one at RecordPriority.
func TestFiredPassFallsThroughWhenNothingHasExpired(t *testing.T) {
	cases := []struct {
		name string
		// prepare moves the world after the grant; check looks at the
		// result of the fired pass.
		prepare func(t *testing.T, ts *twoStep, expiresAt time.Time)
		check   func(t *testing.T, ts *twoStep, res ctrl.Result, w map[string]int, expiresAt time.Time)
	}{{
		name:    "a grant that has not expired keeps its binding and waits for its expiry",
		prepare: func(*testing.T, *twoStep, time.Time) {},
		check: func(t *testing.T, ts *twoStep, res ctrl.Result, w map[string]int, expiresAt time.Time) {
			if len(w) != 0 || len(ts.bindings(t)) != 1 {
				t.Fatalf("wrote %v and left %d bindings, want nothing written and the binding kept", w, len(ts.bindings(t)))
			}
			if want := expiresAt.Sub(ts.clock.Now()); res.RequeueAfter != want {
				t.Fatalf("RequeueAfter = %s, want %s until the expiry", res.RequeueAfter, want)
			}
		},
	}, {
		name: "a closed request is left as it is",
		prepare: func(t *testing.T, ts *twoStep, expiresAt time.Time) {
			ts.clock.SetTime(expiresAt)
			ts.pass(t, "view-req", false) // the ordinary reconcile ends the grant in one pass
			_ = ts.events()
			ts.audit.Reset()
		},
		check: func(t *testing.T, ts *twoStep, res ctrl.Result, w map[string]int, _ time.Time) {
			if len(w) != 0 || res.RequeueAfter != 0 {
				t.Fatalf("wrote %v, result %+v; a closed request needs nothing", w, res)
			}
			if ts.audit.String() != "" {
				t.Fatalf("announced %q again", ts.audit.String())
			}
		},
	}, {
		name: "a request being deleted is finalized: revoked, recorded and released in this pass",
		prepare: func(t *testing.T, ts *twoStep, expiresAt time.Time) {
			ts.clock.SetTime(expiresAt)
			if err := ts.c.Delete(context.Background(), ts.request(t, "view-req")); err != nil {
				t.Fatal(err)
			}
		},
		check: func(t *testing.T, ts *twoStep, _ ctrl.Result, w map[string]int, _ time.Time) {
			if w["delete RoleBinding"] != 1 || w["status AccessRequest"] != 1 || w["patch AccessRequest"] != 1 {
				t.Fatalf("wrote %v, want the delete, the status and the finalizer's release in one pass", w)
			}
			ar := &accessv1alpha1.AccessRequest{}
			if err := ts.c.Get(context.Background(), types.NamespacedName{Namespace: "payments", Name: "view-req"}, ar); err == nil {
				t.Fatalf("the request is still there with finalizers %v", ar.Finalizers)
			}
			if !strings.Contains(ts.audit.String(), `"event":"Revoked"`) {
				t.Fatalf("audited %q, want the deletion's Revoked line", ts.audit.String())
			}
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTwoStep(t)
			expiresAt := ts.grant(t)
			tc.prepare(t, ts, expiresAt)
			res, w := ts.pass(t, "view-req", true)
			if res.Priority != nil {
				t.Fatalf("fired pass asked for priority %d; only a revocation's record comes back at RecordPriority", *res.Priority)
			}
			tc.check(t, ts, res, w, expiresAt)
		})
	}
}

// An expired grant whose binding is already gone (deleted by hand, or by
// the expiry revoker of another replica) has nothing to delete, but its
// record still waits for RecordPriority, behind the revocations that do.
func TestFiredPassDefersTheRecordWhenTheBindingIsGone(t *testing.T) {
	ts := newTwoStep(t)
	expiresAt := ts.grant(t)
	ts.clock.SetTime(expiresAt.Add(time.Second))
	for _, rb := range ts.bindings(t) {
		if err := ts.c.Delete(context.Background(), &rb); err != nil {
			t.Fatal(err)
		}
	}
	res, w := ts.pass(t, "view-req", true)
	if res.Priority == nil || *res.Priority != RecordPriority || len(w) != 0 {
		t.Fatalf("fired pass = priority %s, wrote %v; want nothing written and a requeue at RecordPriority", priority(res), w)
	}
	if _, w = ts.pass(t, "view-req", false); w["status AccessRequest"] != 1 || len(w) != 1 {
		t.Fatalf("record pass wrote %v, want the status only", w)
	}
	if ar := ts.request(t, "view-req"); readyReason(ar) != accessv1alpha1.ReasonExpired || ar.Status.RevokedAt == nil {
		t.Fatalf("ready %s, revokedAt %v; want Expired, recorded", readyReason(ar), ar.Status.RevokedAt)
	}
}
