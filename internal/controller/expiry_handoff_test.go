package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/source"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	rgscheme "rolegate.dev/rolegate/internal/scheme"
)

// overdueBinding is the binding rolegate makes for request name of
// namespace team, expiring at at, named like its request so that tests can
// read it by that name.
func overdueBinding(name string, at time.Time) *rbacv1.RoleBinding {
	req := &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name, UID: types.UID("ar-" + name)},
		Spec: accessv1alpha1.AccessRequestSpec{ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "sa"},
			RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "view"}},
	}
	rb := DesiredBinding(req, at)
	rb.Name, rb.UID = name, types.UID("uid-"+name)
	return rb
}

func bindingExists(t *testing.T, c client.Client, name string) bool {
	t.Helper()
	err := c.Get(t.Context(), client.ObjectKey{Namespace: "team", Name: name}, &rbacv1.RoleBinding{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("reading binding %s: %v", name, err)
	}
	return err == nil
}

// startRevoker runs e.Start in the background; the returned channel
// yields its result.
func startRevoker(ctx context.Context, e *ExpiryRevoker) <-chan error {
	done := make(chan error, 1)
	go func() { done <- e.Start(ctx) }()
	return done
}

// TestExpiryRevokerStopsOnceTheControllerTakesOver: until the handoff is
// taken over the revoker deletes overdue bindings; after it, it stops and
// leaves every later expiry to the controller, so a leader never revokes
// the same grant from two places.
func TestExpiryRevokerStopsOnceTheControllerTakesOver(t *testing.T) {
	expiry := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	c := fake.NewClientBuilder().WithScheme(rgscheme.Scheme).WithObjects(overdueBinding("before", expiry)).Build()
	h := NewExpiryHandoff()
	rev := &ExpiryRevoker{Reader: c, Writer: c, Clock: clocktesting.NewFakePassiveClock(expiry.Add(time.Second)),
		Interval: 10 * time.Millisecond, Handoff: h}
	done := startRevoker(t.Context(), rev)

	deadline := time.After(30 * time.Second)
	for bindingExists(t, c, "before") {
		select {
		case <-deadline:
			t.Fatal("the revoker did not delete an overdue binding before the handoff")
		case <-time.After(10 * time.Millisecond):
		}
	}

	h.takeOver()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Start after the handoff: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the revoker kept running after the controller took over")
	}
	if err := c.Create(t.Context(), overdueBinding("after", expiry)); err != nil {
		t.Fatal(err)
	}
	// Start has returned: nothing of the revoker runs any more.
	if !bindingExists(t, c, "after") {
		t.Error("the revoker deleted a binding after the controller took over")
	}
}

// TestExpiryRevokerWithoutHandoffNeverStops: a nil handoff (a replica
// without the controller) revokes until its context ends.
func TestExpiryRevokerWithoutHandoffNeverStops(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(rgscheme.Scheme).Build()
	ctx, cancel := context.WithCancel(t.Context())
	done := startRevoker(ctx, &ExpiryRevoker{Reader: c, Writer: c, Clock: clocktesting.NewFakePassiveClock(time.Now()),
		Interval: time.Millisecond})
	select {
	case err := <-done:
		t.Fatalf("Start returned %v before its context ended", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Start: %v", err)
	}
}

// syncing is a SyncingSource whose WaitForSync answers err.
type syncing struct {
	source.SyncingSource
	err error
}

func (s syncing) WaitForSync(context.Context) error { return s.err }

// TestExpirySourceTakesOverOnlyOnceSynced: the controller takes revocation
// over from the revoker only when its schedule holds every live grant; a
// source that failed to sync leaves the revoker running.
func TestExpirySourceTakesOverOnlyOnceSynced(t *testing.T) {
	h := NewExpiryHandoff()
	failed := &expirySource{SyncingSource: syncing{err: errors.New("cache sync timed out")}, handoff: h}
	if err := failed.WaitForSync(t.Context()); err == nil {
		t.Fatal("WaitForSync hid the source's error")
	}
	select {
	case <-h.TakenOver():
		t.Fatal("the handoff was taken over although the schedule never synced")
	default:
	}

	synced := &expirySource{SyncingSource: syncing{}, handoff: h}
	if err := synced.WaitForSync(t.Context()); err != nil {
		t.Fatalf("WaitForSync: %v", err)
	}
	select {
	case <-h.TakenOver():
	default:
		t.Fatal("the handoff was not taken over once the schedule synced")
	}
	// Taking over twice (a second sync) must not panic on a closed channel.
	if err := synced.WaitForSync(t.Context()); err != nil {
		t.Fatalf("second WaitForSync: %v", err)
	}
}
