package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// HandoffMessage is what a replica's expiry revoker logs when it stops
// because the replica's AccessRequest controller revokes at expiry.
const HandoffMessage = "this replica's AccessRequest controller revokes expired grants from now on"

// DefaultExpiryRevokerInterval is how often an ExpiryRevoker looks for
// overdue bindings when none is due sooner.
const DefaultExpiryRevokerInterval = time.Second

// ExpiryRevoker deletes rolegate's RoleBindings whose expires-at annotation
// has passed, on a replica whose AccessRequest controller is not running:
// every replica starts one, so that a grant ends on time even while the
// lease of a lost leader has not run out yet. Once the replica leads and
// its controller has synced, the controller revokes at expiry itself
// (expiry_schedule.go, expiry_first.go) and the revoker stops (see
// ExpiryHandoff): one replica never revokes the same grant twice.
//
// It deletes only with a precondition on the binding's UID and
// resourceVersion: a binding that the leader rewrote since the revoker read
// it (an extension moves expires-at forward) is left alone, because the
// API server refuses the delete. It never creates or changes anything.
type ExpiryRevoker struct {
	// Reader lists the managed RoleBindings (normally the manager's cache,
	// which holds only those).
	Reader client.Reader
	// Writer deletes the overdue ones.
	Writer client.Writer
	// Clock says when a binding is overdue; the same clock as the controller's.
	Clock clock.PassiveClock
	// Interval bounds the wait between two passes; 0 is DefaultExpiryRevokerInterval.
	Interval time.Duration
	// Log receives one line per revoked binding.
	Log logr.Logger
	// Handoff, once taken over, stops the revoker; nil never stops it.
	Handoff *ExpiryHandoff
}

// ExpiryHandoff passes the revocation of expired grants from a replica's
// ExpiryRevoker to its AccessRequest controller. The controller takes it
// over when its expiry source has synced, which happens only once the
// replica leads (the controller does not warm up its sources before);
// its workers start right after, and the expiries that fell due meanwhile
// are queued first, at RevocationPriority.
type ExpiryHandoff struct {
	once sync.Once
	done chan struct{}
}

// NewExpiryHandoff returns a handoff that has not been taken over.
func NewExpiryHandoff() *ExpiryHandoff { return &ExpiryHandoff{done: make(chan struct{})} }

// TakenOver is closed once the controller revokes at expiry; nil for a nil
// handoff (a channel that is never closed).
func (h *ExpiryHandoff) TakenOver() <-chan struct{} {
	if h == nil {
		return nil
	}
	return h.done
}

func (h *ExpiryHandoff) takeOver() {
	if h != nil {
		h.once.Do(func() { close(h.done) })
	}
}

// NeedLeaderElection is false: standbys revoke too (see ExpiryRevoker).
func (e *ExpiryRevoker) NeedLeaderElection() bool { return false }

// Start runs passes until ctx ends or the handoff is taken over. A failed
// pass is logged and retried on the next one.
func (e *ExpiryRevoker) Start(ctx context.Context) error {
	interval := e.Interval
	if interval <= 0 {
		interval = DefaultExpiryRevokerInterval
	}
	for {
		select {
		case <-e.Handoff.TakenOver():
			e.Log.Info(HandoffMessage)
			return nil
		default:
		}
		wait := interval
		next, err := e.RevokeExpired(ctx)
		if err != nil {
			e.Log.Error(err, "revoking expired RoleBindings")
		} else if !next.IsZero() {
			wait = min(wait, max(next.Sub(e.Clock.Now()), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-e.Handoff.TakenOver():
			t.Stop()
		case <-t.C:
		}
	}
}

// RevokeExpired makes one pass: it deletes every managed RoleBinding whose
// expires-at annotation is not after now, and returns when the next one
// falls due (zero when none will). A binding it cannot delete does not
// stop the others.
func (e *ExpiryRevoker) RevokeExpired(ctx context.Context) (time.Time, error) {
	var list rbacv1.RoleBindingList
	if err := e.Reader.List(ctx, &list, client.MatchingLabels{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue}); err != nil {
		return time.Time{}, fmt.Errorf("listing managed RoleBindings: %w", err)
	}
	now := e.Clock.Now()
	var next time.Time
	var errs []error
	for i := range list.Items {
		rb := &list.Items[i]
		at, ok := bindingExpiry(rb)
		if !ok {
			continue
		}
		if at.After(now) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		errs = append(errs, e.revoke(ctx, rb, at, now))
	}
	return next, errors.Join(errs...)
}

// bindingExpiry is when a binding rolegate created for an AccessRequest
// expires; ok is false for a binding without a readable expires-at, without
// an AccessRequest controller, or already being deleted.
func bindingExpiry(rb *rbacv1.RoleBinding) (time.Time, bool) {
	if !rb.DeletionTimestamp.IsZero() {
		return time.Time{}, false
	}
	ref := metav1.GetControllerOfNoCopy(rb)
	if ref == nil || ref.Kind != "AccessRequest" || ref.APIVersion != accessv1alpha1.GroupVersion.String() {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339, rb.Annotations[accessv1alpha1.ExpiresAtAnnotation])
	if err != nil {
		return time.Time{}, false
	}
	return at, true
}

// revoke deletes rb if it is still exactly the version that was read.
func (e *ExpiryRevoker) revoke(ctx context.Context, rb *rbacv1.RoleBinding, at, now time.Time) error {
	uid, rv := rb.UID, rb.ResourceVersion
	err := e.Writer.Delete(ctx, rb, client.Preconditions{UID: &uid, ResourceVersion: &rv})
	switch {
	case err == nil:
		e.Log.Info("revoked an expired RoleBinding", "namespace", rb.Namespace, "name", rb.Name,
			"request", accessv1alpha1.RequestNameOf(rb.Labels, rb.Annotations), "expiresAt", at, "lag", now.Sub(at))
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// Gone already, or rewritten since it was read (an extension): the
		// next pass sees the current version.
		return nil
	default:
		return fmt.Errorf("deleting expired RoleBinding %s/%s: %w", rb.Namespace, rb.Name, err)
	}
}
