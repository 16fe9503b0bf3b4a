package controller_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/internal/controller"
	"rolegate.dev/rolegate/test/utils"
)

// goneOrReplaced reports an error while the binding with uid still exists
// (the suite's leader re-creates a binding whose grant has not expired by
// its own clock; a re-created binding has another UID).
func goneOrReplaced(ctx context.Context, ns, name string, uid string) error {
	rb := &rbacv1.RoleBinding{}
	err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rb)
	if apierrors.IsNotFound(err) || (err == nil && string(rb.UID) != uid) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("binding %s (uid %s) still exists", name, uid)
}

// TestExpiryRevokerRevokesWithoutLeadership starts a second manager whose
// clock is past a grant's expiry and which never becomes leader (another
// identity holds the lease): its revoker alone deletes the overdue binding.
func TestExpiryRevokerRevokesWithoutLeadership(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	r := w.waitReadyAfter(t, "held", accessv1alpha1.ReasonGranted, lasting(time.Hour))
	rb := w.binding(t, r.Status.RoleBinding)

	now := metav1.NewMicroTime(time.Now())
	must(t, k8s.Create(t.Context(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: app.LeaderElectionID, Namespace: w.ns},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("another-replica"), LeaseDurationSeconds: ptr.To[int32](3600),
			AcquireTime: &now, RenewTime: &now},
	}))
	clk := clocktesting.NewFakeClock(r.Status.ExpiresAt.Add(time.Second))
	standby, err := utils.StartManager(cfg, app.Options{SkipNameValidation: true, MetricsRegistry: prometheus.NewRegistry(),
		LeaderElection: true, LeaderElectionNamespace: w.ns, Clock: clk})
	must(t, err)
	defer standby.Stop()

	eventually(t, waitLong, func() error { return goneOrReplaced(t.Context(), w.ns, rb.Name, string(rb.UID)) })
	lease := &coordinationv1.Lease{}
	must(t, k8s.Get(t.Context(), client.ObjectKey{Namespace: w.ns, Name: app.LeaderElectionID}, lease))
	if h := ptr.Deref(lease.Spec.HolderIdentity, ""); h != "another-replica" {
		t.Errorf("lease holder = %q: the standby took the lease, so the test proves nothing", h)
	}
}

// staleReader answers List with bindings as they were read earlier, the
// way a lagging cache does.
type staleReader struct {
	client.Reader
	items []rbacv1.RoleBinding
}

func (s staleReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	l, ok := list.(*rbacv1.RoleBindingList)
	if !ok {
		return errors.New("staleReader lists RoleBindings only")
	}
	l.Items = s.items
	return nil
}

// TestExpiryRevokerKeepsAnExtendedBinding: a revoker that read the binding
// before an extension moved its expires-at must not delete it at the old
// expiry; it deletes at the new one.
func TestExpiryRevokerKeepsAnExtendedBinding(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t, allowExtensions(1))
	orig := w.waitReadyAfter(t, "base", accessv1alpha1.ReasonGranted, lasting(time.Hour))
	before := w.binding(t, orig.Status.RoleBinding)

	w.request(t, "base-more", extending("base"), lasting(30*time.Minute))
	w.waitReady(t, "base-more", accessv1alpha1.ReasonExtended)
	newExpiry := orig.Status.ExpiresAt.Add(30 * time.Minute)
	eventually(t, waitLong, func() error {
		if a := w.binding(t, before.Name).Annotations[accessv1alpha1.ExpiresAtAnnotation]; a != newExpiry.UTC().Format(time.RFC3339) {
			return fmt.Errorf("expires-at %s, want %s", a, newExpiry.UTC().Format(time.RFC3339))
		}
		return nil
	})

	clk := clocktesting.NewFakeClock(orig.Status.ExpiresAt.Add(time.Second))
	log := logf.Log.WithName("expiry-revoker-test")
	for _, reader := range []client.Reader{staleReader{items: []rbacv1.RoleBinding{*before}}, k8s} {
		rev := &controller.ExpiryRevoker{Reader: reader, Writer: k8s, Clock: clk, Log: log}
		if _, err := rev.RevokeExpired(t.Context()); err != nil {
			t.Fatalf("RevokeExpired at the old expiry: %v", err)
		}
		if after := w.binding(t, before.Name); after.UID != before.UID {
			t.Fatalf("the extended binding was deleted at its old expiry (reader %T)", reader)
		}
	}

	rev := &controller.ExpiryRevoker{Reader: k8s, Writer: k8s, Clock: clk, Log: log}
	next, err := rev.RevokeExpired(t.Context())
	must(t, err)
	if !next.Equal(newExpiry) {
		t.Errorf("next expiry = %s, want the extended %s", next, newExpiry)
	}
	clk.SetTime(newExpiry)
	if _, err := rev.RevokeExpired(t.Context()); err != nil {
		t.Fatalf("RevokeExpired at the new expiry: %v", err)
	}
	must(t, goneOrReplaced(t.Context(), w.ns, before.Name, string(before.UID)))
}
