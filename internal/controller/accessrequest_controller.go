package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/audit"
	"rolegate.dev/rolegate/internal/metrics"
	"rolegate.dev/rolegate/internal/notify"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/internal/snapshot"
)

// AccessRequestReconciler grants and revokes the RoleBinding of each
// AccessRequest. Approval is recomputed from the policy and the
// AccessDecisions on every pass; status is written, never trusted.
type AccessRequestReconciler struct {
	client.Client
	// APIReader reads around the cache before anything is deleted.
	APIReader client.Reader
	Clock     clock.PassiveClock
	Recorder  events.EventRecorder
	Audit     audit.Sink
	// Metrics records transitions; nil records nothing.
	Metrics *metrics.Recorder
	// Notifier tells the policies' notification targets; nil tells nobody.
	Notifier *notify.Dispatcher
	// MaxConcurrentReconciles bounds parallel reconciles (default 1).
	MaxConcurrentReconciles int
	// RecheckInterval bounds how long an active grant or a pending request
	// waits between reconciles (default DefaultRecheckInterval). Timers run
	// on the monotonic clock while expiry is wall-clock time: rechecking
	// bounds how late a grant ends when the wall clock jumps forward.
	RecheckInterval time.Duration
	// ExpiryHandoff is taken over once the controller revokes expired
	// grants itself, which stops the replica's ExpiryRevoker; nil for none.
	ExpiryHandoff *ExpiryHandoff
}

// DefaultRecheckInterval is the default RecheckInterval.
const DefaultRecheckInterval = 5 * time.Minute

// requeue schedules the next reconcile for d, or sooner to recheck.
func (r *AccessRequestReconciler) requeue(d time.Duration) ctrl.Result {
	if d <= 0 {
		return ctrl.Result{}
	}
	recheck := r.RecheckInterval
	if recheck <= 0 {
		recheck = DefaultRecheckInterval
	}
	return ctrl.Result{RequeueAfter: min(d, recheck)}
}

// +kubebuilder:rbac:groups=access.rolegate.dev,resources=accessrequests,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=access.rolegate.dev,resources=accessrequests/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=access.rolegate.dev,resources=accessrequests/finalizers,verbs=update
// +kubebuilder:rbac:groups=access.rolegate.dev,resources=accessdecisions,verbs=get;list;watch
// +kubebuilder:rbac:groups=access.rolegate.dev,resources=accessdecisions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=access.rolegate.dev,resources=approvalpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;clusterroles,verbs=get;list;watch;bind
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile drives one AccessRequest towards what its policy and decisions
// allow right now.
func (r *AccessRequestReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.reconcile(ctx, req, releaseAtOnce)
}

// release says when a pass that ends a request's access removes its
// finalizer.
type releaseWhen bool

const (
	// releaseAtOnce removes it in the pass that ended the access, right
	// after the status records the end.
	releaseAtOnce releaseWhen = true
	// releaseNextPass leaves it to the next pass, which the status write's
	// own watch event brings (see revokeFirst): the pass then costs one
	// API write instead of two.
	releaseNextPass releaseWhen = false
)

// reconcile is Reconcile; when says when an ending is released.
func (r *AccessRequestReconciler) reconcile(ctx context.Context, req ctrl.Request, when releaseWhen) (ctrl.Result, error) {
	ar := &accessv1alpha1.AccessRequest{}
	if err := r.Get(ctx, req.NamespacedName, ar); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.cleanUpAfter(ctx, req.NamespacedName)
		}
		return ctrl.Result{}, err
	}
	if !ar.DeletionTimestamp.IsZero() {
		if err := r.finalize(ctx, ar); err != nil {
			return retryConflict(ctx, err)
		}
		return ctrl.Result{}, nil
	}
	// An ended request holds no finalizer: nothing is left to revoke, and
	// deleting it (or its CRD, at uninstall) must not wait for the manager.
	if !controllerutil.ContainsFinalizer(ar, accessv1alpha1.RevokeFinalizer) && !policy.Closed(ar) {
		patch := client.MergeFromWithOptions(ar.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(ar, accessv1alpha1.RevokeFinalizer)
		if err := r.Patch(ctx, ar, patch); err != nil {
			return retryConflict(ctx, fmt.Errorf("adding finalizer: %w", err))
		}
	}

	w, err := r.observe(ctx, ar)
	if err != nil {
		if reportable(err) {
			before := ar.DeepCopy()
			setFailed(ar, err)
			err = errors.Join(err, r.writeStatus(ctx, before, ar))
			r.reportFailure(ar, err)
		}
		return retryConflict(ctx, err)
	}
	before := ar.DeepCopy()
	result, err := r.act(ctx, w)
	if reportable(err) {
		setFailed(ar, err)
	}
	setStalled(ar)
	serr := r.writeStatus(ctx, before, ar)
	if serr != nil {
		err = errors.Join(err, serr)
	}
	// Announce what the status records as soon as it is written. A write
	// cut short (the manager stopping) may have been applied, and the next
	// pass would then see nothing left to announce: announce it too. The
	// audit trail is at-least-once; readers deduplicate on uid and event.
	if serr == nil || errors.Is(serr, context.Canceled) || errors.Is(serr, context.DeadlineExceeded) {
		r.announce(ctx, before, ar, w)
	}
	if derr := r.writeVerdicts(ctx, w); derr != nil {
		err = errors.Join(err, derr)
	}
	if err == nil && policy.Closed(ar) && (w.ended || when == releaseAtOnce) {
		err = r.release(ctx, ar)
	}
	if reportable(err) {
		r.reportFailure(ar, err)
	}
	if err != nil {
		return retryConflict(ctx, err)
	}
	return result, nil
}

// release removes the finalizer of a request whose access ended, once its
// bindings are gone (act deleted them in this pass): an ended request is
// deleted at once, and nothing waits for the manager at uninstall. The
// request's end was announced (event, audit line) when it ended; deleting
// it later revokes nothing, so there is nothing left to record.
func (r *AccessRequestReconciler) release(ctx context.Context, ar *accessv1alpha1.AccessRequest) error {
	if !controllerutil.ContainsFinalizer(ar, accessv1alpha1.RevokeFinalizer) {
		return nil
	}
	patch := client.MergeFromWithOptions(ar.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(ar, accessv1alpha1.RevokeFinalizer)
	if err := r.Patch(ctx, ar, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing the finalizer of ended AccessRequest %s/%s: %w", ar.Namespace, ar.Name, err)
	}
	return nil
}

// conflictRetry is how soon a reconcile that lost an optimistic-lock race
// (usually against its own previous write, not yet in the cache) runs again.
const conflictRetry = 250 * time.Millisecond

// retryConflict turns a write conflict into a quiet, prompt retry; other
// errors go to the rate-limited queue and the log.
func retryConflict(ctx context.Context, err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		logf.FromContext(ctx).V(1).Info("Retrying after a write conflict", "error", err.Error())
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	return ctrl.Result{}, err
}

// world is what one reconcile saw of a request and its surroundings.
type world struct {
	req       *accessv1alpha1.AccessRequest
	now       time.Time
	bindings  []rbacv1.RoleBinding
	decisions []accessv1alpha1.AccessDecision
	eval      policy.Result
	// ended is true when the request's access ended in an earlier pass.
	ended bool
	// restored is set when a drifted or deleted binding was put back.
	restored bool
	// conflict names a binding of our name that rolegate does not control.
	conflict string
	// review is the acknowledgement tally of an ended break-glass request
	// that still awaits review; nil otherwise.
	review *policy.Tally
	// grantee is the ServiceAccount that receives the role, as found now.
	grantee policy.Grantee
	// target is the request an extension extends, and targetEval its
	// evaluation (which says whether this extension was applied).
	target     *accessv1alpha1.AccessRequest
	targetEval *policy.Result
}

func (r *AccessRequestReconciler) observe(ctx context.Context, ar *accessv1alpha1.AccessRequest) (*world, error) {
	w := &world{req: ar, now: r.Clock.Now(), ended: policy.Closed(ar)}
	bindings, err := r.requestBindings(ctx, ar.Namespace, ar.Name)
	if err != nil {
		return nil, err
	}
	w.bindings = bindings
	if w.ended && !policy.AwaitsReview(ar) {
		decisions, err := snapshot.Decisions(ctx, r, ar.Namespace, ar.Name)
		w.decisions = decisions
		return w, err
	}
	if w.grantee, err = r.grantee(ctx, ar); err != nil {
		return nil, err
	}
	eval, snap, err := r.evaluate(ctx, ar, w.bindings, w.grantee, w.now)
	if err != nil {
		return nil, err
	}
	w.decisions = snap.Decisions
	if w.ended {
		// Only the review of an ended break-glass grant is still open.
		if eval.Tally.BreakGlass {
			w.review = &eval.Tally
		}
		return w, nil
	}
	w.eval = eval
	if eval.Outcome == policy.OutcomeExtended || (ar.Spec.Extends != "" && eval.Outcome == policy.OutcomePolicyChanged) {
		if err := r.observeTarget(ctx, w, snap.Extends); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// requestBindings lists the managed RoleBindings of a request: labelled
// with its label value and, where that value is shared, annotated with its
// name (see BelongsTo).
func (r *AccessRequestReconciler) requestBindings(ctx context.Context, namespace, name string) ([]rbacv1.RoleBinding, error) {
	var bindings rbacv1.RoleBindingList
	if err := r.List(ctx, &bindings, client.InNamespace(namespace),
		client.MatchingFields{snapshot.BindingRequestIndex: accessv1alpha1.RequestLabelValue(name)}); err != nil {
		return nil, actionError{reason: accessv1alpha1.ReasonReadFailed,
			err: fmt.Errorf("listing the RoleBindings of AccessRequest %s/%s: %w", namespace, name, err)}
	}
	return slices.DeleteFunc(bindings.Items, func(rb rbacv1.RoleBinding) bool { return !BelongsTo(&rb, namespace, name) }), nil
}

// evaluate judges a request from the policy, its decisions, the request it
// extends and the approved requests that extend it, and returns what it
// read.
func (r *AccessRequestReconciler) evaluate(
	ctx context.Context, ar *accessv1alpha1.AccessRequest, bindings []rbacv1.RoleBinding, grantee policy.Grantee, now time.Time,
) (policy.Result, *snapshot.Snapshot, error) {
	snap, err := snapshot.Read(ctx, r, ar)
	if err != nil {
		return policy.Result{}, nil, err
	}
	in := snap.Input(ar, grantEvidence(ar, bindings, now), now)
	in.Grantee = grantee
	if ar.Spec.Extends == "" {
		if in.Extensions, err = snapshot.ApprovedExtensions(ctx, r, ar, snap, now); err != nil {
			return policy.Result{}, nil, err
		}
	}
	return policy.Evaluate(in), snap, nil
}

// observeTarget evaluates the request an extension extends (nil when it
// does not exist), as that request's own reconcile does, to learn whether
// the extension applies.
func (r *AccessRequestReconciler) observeTarget(ctx context.Context, w *world, target *accessv1alpha1.AccessRequest) error {
	if target == nil {
		return nil
	}
	w.target = target
	if policy.Closed(target) {
		return nil
	}
	bindings, err := r.requestBindings(ctx, target.Namespace, target.Name)
	if err != nil {
		return err
	}
	grantee, err := r.grantee(ctx, target)
	if err != nil {
		return err
	}
	eval, _, err := r.evaluate(ctx, target, bindings, grantee, w.now)
	if err != nil {
		return err
	}
	w.targetEval = &eval
	return nil
}

// grantee looks the request's ServiceAccount up, metadata only (the cache
// holds no ServiceAccount secrets or bodies). One being deleted counts as
// gone.
func (r *AccessRequestReconciler) grantee(ctx context.Context, ar *accessv1alpha1.AccessRequest) (policy.Grantee, error) {
	g := policy.Grantee{Checked: true, RecordedUID: ar.Status.ServiceAccountUID}
	sa := &metav1.PartialObjectMetadata{}
	sa.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ServiceAccount"))
	key := types.NamespacedName{Namespace: policy.ServiceAccountNamespace(ar), Name: ar.Spec.ServiceAccount.Name}
	switch err := r.Get(ctx, key, sa); {
	case apierrors.IsNotFound(err):
		return g, nil
	case err != nil:
		return g, fmt.Errorf("reading ServiceAccount %s: %w", key, err)
	}
	g.Exists = sa.DeletionTimestamp.IsZero()
	g.UID, g.CreatedAt = string(sa.UID), sa.CreationTimestamp.Time
	return g, nil
}

// grantEvidence is the earliest sign that the request was granted: its
// recorded grantedAt or the creation of a binding it controls, never before
// the request existed and never in the future. Taking the earliest means a
// status rewritten by hand can shorten access but never lengthen it.
func grantEvidence(ar *accessv1alpha1.AccessRequest, bindings []rbacv1.RoleBinding, now time.Time) time.Time {
	var at time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if ar.Status.GrantedAt != nil {
		consider(ar.Status.GrantedAt.Time)
	}
	for i := range bindings {
		if ControlledBy(&bindings[i], ar) {
			consider(bindings[i].CreationTimestamp.Time)
		}
	}
	if at.IsZero() {
		return at
	}
	if created := ar.CreationTimestamp.Time; at.Before(created) {
		at = created
	}
	if at.After(now) {
		at = now
	}
	return at
}

// act makes the cluster match the evaluation and records it in status.
// status.observedGeneration advances to the request's generation only when
// that succeeded: a spec that could not be acted on is not yet observed,
// while Ready says why and the work queue retries.
func (r *AccessRequestReconciler) act(ctx context.Context, w *world) (ctrl.Result, error) {
	result, err := r.converge(ctx, w)
	if err == nil {
		setObserved(w.req)
	}
	return result, err
}

// converge deletes, creates or restores the request's bindings as its
// evaluation says, and sets the status that describes the outcome.
func (r *AccessRequestReconciler) converge(ctx context.Context, w *world) (ctrl.Result, error) {
	ar := w.req
	if w.ended {
		setEndedConditions(ar)
		if w.review != nil {
			setReviewedCondition(ar, w.review)
		}
		return ctrl.Result{}, r.deleteBindings(ctx, w.bindings)
	}
	e := w.eval
	setEvaluatedStatus(ar, e)
	switch e.Outcome {
	case policy.OutcomeExtended:
		// The extended request's binding carries the grant; this request
		// holds none of its own.
		if err := r.deleteBindings(ctx, w.bindings); err != nil {
			return ctrl.Result{}, err
		}
		return r.requeue(setExtensionStatus(ar, w)), nil
	case policy.OutcomeGrant:
		if err := r.ensureBinding(ctx, w); err != nil {
			return ctrl.Result{}, err
		}
		setGrantStatus(ar, w)
		next := e.RequeueAfter
		if at := r.notifyExpiring(ctx, ar, w); !at.IsZero() {
			next = min(next, policy.Until(w.now, at))
		}
		return r.requeue(next), nil
	case policy.OutcomeExpired, policy.OutcomeRevoked, policy.OutcomePolicyChanged, policy.OutcomeEnded:
		if err := r.deleteBindings(ctx, w.bindings); err != nil {
			return ctrl.Result{}, err
		}
		setRevokedStatus(ar, w)
		return ctrl.Result{}, nil
	case policy.OutcomeWaiting:
		if err := r.deleteBindings(ctx, w.bindings); err != nil {
			return ctrl.Result{}, err
		}
		setWaitingStatus(ar, e)
		return ctrl.Result{}, nil
	default:
		// Nothing may be bound: delete whatever carries this request's label.
		if err := r.deleteBindings(ctx, w.bindings); err != nil {
			return ctrl.Result{}, err
		}
		setNotGrantedStatus(ar, e)
		return r.requeue(e.RequeueAfter), nil
	}
}

// ensureBinding creates or restores the request's RoleBinding and removes
// any other binding that carries its label.
func (r *AccessRequestReconciler) ensureBinding(ctx context.Context, w *world) error {
	ar := w.req
	want := DesiredBinding(ar, w.eval.ExpiresAt)
	var have *rbacv1.RoleBinding
	var others []rbacv1.RoleBinding
	for i := range w.bindings {
		if w.bindings[i].Name == want.Name && ControlledBy(&w.bindings[i], ar) {
			have = &w.bindings[i]
		} else {
			others = append(others, w.bindings[i])
		}
	}
	if err := r.deleteBindings(ctx, others); err != nil {
		return err
	}
	if have == nil {
		// The cache only holds labelled bindings: one stripped of its label
		// shows up as AlreadyExists and is read around the cache.
		err := r.Create(ctx, want)
		if err == nil {
			w.restored = ar.Status.GrantedAt != nil
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return bindingFailed("creating", want, err)
		}
		have = &rbacv1.RoleBinding{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(want), have); err != nil {
			return bindingFailed("reading", want, err)
		}
		if !ControlledBy(have, ar) {
			w.conflict = want.Name
			return nil
		}
	}
	if bindingMatches(have, want) {
		return nil
	}
	// A binding whose grant is intact but whose expires-at annotation is out
	// of date (the policy shortened the grant) is updated without a
	// Restored event: nobody tampered with it.
	w.restored = !grantMatches(have, want)
	if have.RoleRef != want.RoleRef {
		// roleRef is immutable: replace the binding.
		if err := r.deleteBinding(ctx, have); err != nil {
			return err
		}
		if err := r.Create(ctx, want); err != nil {
			return bindingFailed("re-creating", want, err)
		}
		return nil
	}
	restore(have, want)
	if err := r.Update(ctx, have); err != nil {
		return bindingFailed("updating", want, err)
	}
	return nil
}

// bindingFailed is a refused create, read or update of a request's
// RoleBinding, naming it and the cause.
func bindingFailed(verb string, rb *rbacv1.RoleBinding, err error) error {
	return actionError{reason: accessv1alpha1.ReasonBindingFailed,
		err: fmt.Errorf("%s RoleBinding %s/%s failed: %w", verb, rb.Namespace, rb.Name, err)}
}

func (r *AccessRequestReconciler) deleteBindings(ctx context.Context, bindings []rbacv1.RoleBinding) error {
	errs := make([]error, 0, len(bindings))
	for i := range bindings {
		errs = append(errs, r.deleteBinding(ctx, &bindings[i]))
	}
	return errors.Join(errs...)
}

// deleteBinding deletes exactly the binding that was read: with a
// precondition on its UID and resourceVersion, so a binding re-created or
// changed since is never hit blind. When the API server refuses that
// (the read came from a cache that lags), it re-reads the binding around
// the cache and deletes that version if it is still rolegate's.
func (r *AccessRequestReconciler) deleteBinding(ctx context.Context, rb *rbacv1.RoleBinding) error {
	if rb.UID != "" && rb.ResourceVersion != "" {
		err := r.Delete(ctx, rb, client.Preconditions{UID: &rb.UID, ResourceVersion: &rb.ResourceVersion})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			logf.FromContext(ctx).V(1).Info("Deleted RoleBinding", "roleBinding", client.ObjectKeyFromObject(rb))
			return nil
		case !apierrors.IsConflict(err):
			return actionError{reason: accessv1alpha1.ReasonRevocationFailed,
				err: fmt.Errorf("deleting RoleBinding %s/%s failed: %w", rb.Namespace, rb.Name, err)}
		}
	}
	fresh := &rbacv1.RoleBinding{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(rb), fresh); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return actionError{reason: accessv1alpha1.ReasonRevocationFailed,
			err: fmt.Errorf("reading RoleBinding %s/%s before deleting it failed: %w", rb.Namespace, rb.Name, err)}
	}
	if fresh.Labels[accessv1alpha1.ManagedByLabel] != accessv1alpha1.ManagedByValue && fresh.UID != rb.UID {
		return nil
	}
	err := r.Delete(ctx, fresh, client.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion})
	if err != nil && !apierrors.IsNotFound(err) {
		return actionError{reason: accessv1alpha1.ReasonRevocationFailed,
			err: fmt.Errorf("deleting RoleBinding %s/%s failed: %w", rb.Namespace, rb.Name, err)}
	}
	logf.FromContext(ctx).V(1).Info("Deleted RoleBinding", "roleBinding", client.ObjectKeyFromObject(rb))
	return nil
}

// finalize revokes a request that is being deleted, records it, and lets it go.
func (r *AccessRequestReconciler) finalize(ctx context.Context, ar *accessv1alpha1.AccessRequest) error {
	if !controllerutil.ContainsFinalizer(ar, accessv1alpha1.RevokeFinalizer) {
		return nil
	}
	bindings, err := r.requestBindings(ctx, ar.Namespace, ar.Name)
	if err != nil {
		return err
	}
	if err := r.deleteBindings(ctx, bindings); err != nil {
		return err
	}
	if ar.Status.RevokedAt == nil && (ar.Status.GrantedAt != nil || len(bindings) > 0) {
		// Record the revocation before announcing it, so a retry of this
		// finalizer finds revokedAt set and does not announce it twice.
		before := ar.DeepCopy()
		now := metav1.NewTime(r.Clock.Now())
		ar.Status.RevokedAt = &now
		msg := "the AccessRequest was deleted; its RoleBinding was removed"
		setCondition(ar, accessv1alpha1.ConditionGranted, metav1.ConditionFalse, accessv1alpha1.ReasonRevoked, msg)
		setCondition(ar, accessv1alpha1.ConditionReady, metav1.ConditionTrue, accessv1alpha1.ReasonRevoked, msg)
		setObserved(ar)
		if err := r.writeStatus(ctx, before, ar); err != nil {
			return err
		}
		r.emit(ctx, before, ar, &world{req: ar, now: now.Time},
			[]transition{{accessv1alpha1.ReasonRevoked, corev1.EventTypeNormal, actionRevoke, msg}}, "RequestDeleted")
	}
	patch := client.MergeFromWithOptions(ar.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(ar, accessv1alpha1.RevokeFinalizer)
	if err := r.Patch(ctx, ar, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing finalizer: %w", err)
	}
	return nil
}

// cleanUpAfter removes bindings left behind by a request that no longer
// exists (orphans) and tells decisions naming it that it does not exist.
func (r *AccessRequestReconciler) cleanUpAfter(ctx context.Context, key types.NamespacedName) error {
	bindings, err := r.requestBindings(ctx, key.Namespace, key.Name)
	if err != nil {
		return err
	}
	if len(bindings) > 0 {
		logf.FromContext(ctx).Info("Removing orphaned RoleBindings", "count", len(bindings))
	}
	if err := r.deleteBindings(ctx, bindings); err != nil {
		return err
	}
	decisions, err := snapshot.Decisions(ctx, r, key.Namespace, key.Name)
	if err != nil {
		return err
	}
	verdict := policy.Verdict{Reason: accessv1alpha1.ReasonRequestNotFound,
		Message: fmt.Sprintf("AccessRequest %s does not exist in namespace %s", key.Name, key.Namespace)}
	var errs []error
	for i := range decisions {
		errs = append(errs, r.setVerdict(ctx, &decisions[i], verdict))
	}
	return errors.Join(errs...)
}

// SetupWithManager registers the controller and what it watches: its
// requests, the decisions naming them (by index), the labelled RoleBindings
// (so drift and orphans are seen), the policies and namespaces (so policy
// changes cut access), and Roles and ClusterRoles (their rules decide
// whether a grant may stand).
func (r *AccessRequestReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Audit == nil {
		r.Audit = audit.Discard{}
	}
	expiries := newExpirySource(mgr.GetCache(), timerClock(r.Clock), r.ExpiryHandoff)
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.AccessRequest{}).
		Named("accessrequest").
		Watches(&accessv1alpha1.AccessRequest{}, handler.EnqueueRequestsFromMapFunc(r.relatedByExtension)).
		Watches(&rbacv1.RoleBinding{}, handler.EnqueueRequestsFromMapFunc(requestForBinding)).
		Watches(&accessv1alpha1.AccessDecision{}, handler.EnqueueRequestsFromMapFunc(requestForDecision)).
		Watches(&accessv1alpha1.ApprovalPolicy{}, handler.EnqueueRequestsFromMapFunc(r.liveRequests(nil))).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.liveRequestsInNamespace)).
		WatchesMetadata(&corev1.ServiceAccount{}, handler.EnqueueRequestsFromMapFunc(r.requestsForServiceAccount)).
		Watches(&rbacv1.Role{}, handler.EnqueueRequestsFromMapFunc(r.liveRequestsInNamespace)).
		Watches(&rbacv1.ClusterRole{}, handler.EnqueueRequestsFromMapFunc(r.liveRequests(nil))).
		// Expired grants jump the queue and are revoked first (expiry_*.go).
		WatchesRawSource(expiries).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Complete(expiries.reconciler(r))
}

// requestsForServiceAccount enqueues the live requests that grant to a
// ServiceAccount: its deletion or re-creation ends their grants, and its
// creation lets an approved request be granted.
func (r *AccessRequestReconciler) requestsForServiceAccount(ctx context.Context, obj client.Object) []reconcile.Request {
	key := obj.GetNamespace() + "/" + obj.GetName()
	return r.liveRequests([]client.ListOption{client.MatchingFields{snapshot.ServiceAccountIndex: key}})(ctx, obj)
}

// relatedByExtension links an extension and the request it extends: a
// change to either re-evaluates the other.
func (r *AccessRequestReconciler) relatedByExtension(ctx context.Context, obj client.Object) []reconcile.Request {
	ar, ok := obj.(*accessv1alpha1.AccessRequest)
	if !ok {
		return nil
	}
	if ar.Spec.Extends != "" {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ar.Namespace, Name: ar.Spec.Extends}}}
	}
	exts, err := snapshot.Extensions(ctx, r, ar.Namespace, ar.Name)
	if err != nil {
		logf.FromContext(ctx).Error(err, "Failed to list extensions to re-evaluate")
		return nil
	}
	out := make([]reconcile.Request, 0, len(exts))
	for i := range exts {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&exts[i])})
	}
	return out
}

func requestForBinding(_ context.Context, obj client.Object) []reconcile.Request {
	name := accessv1alpha1.RequestNameOf(obj.GetLabels(), obj.GetAnnotations())
	if name == "" || obj.GetLabels()[accessv1alpha1.ManagedByLabel] != accessv1alpha1.ManagedByValue {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
}

func requestForDecision(_ context.Context, obj client.Object) []reconcile.Request {
	d, ok := obj.(*accessv1alpha1.AccessDecision)
	if !ok || d.Spec.Request == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: d.Namespace, Name: d.Spec.Request}}}
}

func (r *AccessRequestReconciler) liveRequestsInNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	ns := obj.GetNamespace()
	if _, isNamespace := obj.(*corev1.Namespace); isNamespace {
		ns = obj.GetName()
	}
	return r.liveRequests([]client.ListOption{client.InNamespace(ns)})(ctx, obj)
}

// liveRequests enqueues every request whose access has not ended: the
// ones a policy, namespace or role change can affect.
func (r *AccessRequestReconciler) liveRequests(opts []client.ListOption) handler.MapFunc {
	return func(ctx context.Context, _ client.Object) []reconcile.Request {
		var list accessv1alpha1.AccessRequestList
		if err := r.List(ctx, &list, opts...); err != nil {
			logf.FromContext(ctx).Error(err, "Failed to list AccessRequests to re-evaluate")
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			if list.Items[i].Status.RevokedAt == nil {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
			}
		}
		return out
	}
}
