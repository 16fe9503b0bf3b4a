package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/metrics"
)

// refuseBindings makes every create, update or delete of a RoleBinding fail
// as an admission policy would refuse it, while refuse is true.
func refuseBindings(refuse *bool) interceptor.Funcs {
	denied := func(obj client.Object) error {
		return apierrors.NewForbidden(schema.GroupResource{Group: rbacv1.GroupName, Resource: "rolebindings"}, obj.GetName(),
			errors.New("denied by ValidatingAdmissionPolicy no-bindings"))
	}
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*rbacv1.RoleBinding); ok && *refuse {
				return denied(obj)
			}
			return c.Create(ctx, obj, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if _, ok := obj.(*rbacv1.RoleBinding); ok && *refuse {
				return denied(obj)
			}
			return c.Delete(ctx, obj, opts...)
		},
	}
}

func TestARefusedBindingIsReportedAndRetried(t *testing.T) {
	refuse := true
	h := newHarness(t, refuseBindings(&refuse))
	reg := withMetrics(t, h)
	if _, err := h.reconcile(t, "view-req"); err == nil {
		t.Fatal("reconcile must return the error, so that the workqueue retries with backoff")
	}
	ar := h.request(t, "view-req")
	c := findCondition(ar.Status.Conditions, accessv1alpha1.ConditionReady)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != accessv1alpha1.ReasonBindingFailed {
		t.Fatalf("Ready = %+v, want False/BindingFailed", c)
	}
	for _, want := range []string{"creating RoleBinding payments/" + BindingName(ar), "denied by ValidatingAdmissionPolicy no-bindings"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("Ready message %q lacks %q", c.Message, want)
		}
	}
	if ar.Status.GrantedAt != nil {
		t.Errorf("grantedAt recorded for a refused binding")
	}
	if evs := strings.Join(h.events(), "\n"); !strings.Contains(evs, "Warning BindingFailed") {
		t.Errorf("no Warning BindingFailed event:\n%s", evs)
	}
	if v := value(t, reg, metrics.ReconcileErrors, map[string]string{"reason": accessv1alpha1.ReasonBindingFailed}); v != 1 {
		t.Errorf("%s{reason=BindingFailed} = %v, want 1", metrics.ReconcileErrors, v)
	}

	// The refusal ends: the retry grants and Ready says so.
	refuse = false
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	if ar = h.request(t, "view-req"); readyReason(ar) != accessv1alpha1.ReasonGranted || len(h.bindings(t)) != 1 {
		t.Fatalf("after the retry: Ready %s, %d bindings", readyReason(ar), len(h.bindings(t)))
	}

	// A refused revocation is reported as such, with the grant still in place.
	refuse = true
	h.clock.SetTime(t0.Add(2 * time.Hour))
	if _, err := h.reconcile(t, "view-req"); err == nil {
		t.Fatal("reconcile must fail while the binding cannot be deleted")
	}
	ar = h.request(t, "view-req")
	if c := findCondition(ar.Status.Conditions, accessv1alpha1.ConditionReady); c == nil || c.Reason != accessv1alpha1.ReasonRevocationFailed ||
		!strings.Contains(c.Message, "deleting RoleBinding payments/"+BindingName(ar)) {
		t.Fatalf("Ready = %+v, want RevocationFailed naming the binding", c)
	}
	if v := value(t, reg, metrics.ReconcileErrors, map[string]string{"reason": accessv1alpha1.ReasonRevocationFailed}); v != 1 {
		t.Errorf("%s{reason=RevocationFailed} = %v, want 1", metrics.ReconcileErrors, v)
	}
	if evs := strings.Join(h.events(), "\n"); !strings.Contains(evs, "Warning RevocationFailed") {
		t.Errorf("no Warning RevocationFailed event:\n%s", evs)
	}
}

func TestAForeignBindingOfTheSameNameIsReported(t *testing.T) {
	h := newHarness(t, interceptor.Funcs{})
	reg := withMetrics(t, h)
	ar := h.request(t, "view-req")
	foreign := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: BindingName(ar), Namespace: "payments"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}}
	if err := h.c.Create(context.Background(), foreign); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	if ar = h.request(t, "view-req"); readyReason(ar) != accessv1alpha1.ReasonBindingConflict {
		t.Fatalf("Ready = %s, want BindingConflict", readyReason(ar))
	}
	if evs := strings.Join(h.events(), "\n"); !strings.Contains(evs, "Warning BindingConflict") {
		t.Errorf("no Warning BindingConflict event:\n%s", evs)
	}
	if v := value(t, reg, metrics.ReconcileErrors, map[string]string{"reason": accessv1alpha1.ReasonBindingConflict}); v != 1 {
		t.Errorf("%s{reason=BindingConflict} = %v, want 1", metrics.ReconcileErrors, v)
	}
}

func TestAReplacedServiceAccountDoesNotInheritTheGrant(t *testing.T) {
	h := newHarness(t, interceptor.Funcs{})
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	ar := h.request(t, "view-req")
	if ar.Status.ServiceAccountUID != "ledger-migrator-uid" {
		t.Fatalf("serviceAccountUID = %q, want the grantee's UID recorded at grant time", ar.Status.ServiceAccountUID)
	}
	// The ServiceAccount is deleted and re-created under the same name
	// between two reconciles.
	ctx := context.Background()
	if err := h.c.Delete(ctx, grantee()); err != nil {
		t.Fatal(err)
	}
	again := grantee()
	again.UID, again.CreationTimestamp, again.ResourceVersion = "another-uid", metav1.NewTime(t0.Add(2*time.Minute)), ""
	if err := h.c.Create(ctx, again); err != nil {
		t.Fatal(err)
	}
	h.clock.Step(time.Minute)
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	ar = h.request(t, "view-req")
	granted := findCondition(ar.Status.Conditions, accessv1alpha1.ConditionGranted)
	if granted == nil || granted.Reason != accessv1alpha1.ReasonServiceAccountReplaced || ar.Status.RevokedAt == nil {
		t.Fatalf("Granted = %+v, revokedAt %v; want ended with ServiceAccountReplaced", granted, ar.Status.RevokedAt)
	}
	if n := len(h.bindings(t)); n != 0 {
		t.Errorf("%d bindings left for a replaced ServiceAccount", n)
	}
	if controllerutil.ContainsFinalizer(ar, accessv1alpha1.RevokeFinalizer) {
		t.Errorf("an ended request keeps its finalizer")
	}
	if evs := strings.Join(h.events(), "\n"); !strings.Contains(evs, "Normal Revoked") || !strings.Contains(evs, "re-created") {
		t.Errorf("no Revoked event naming the re-created ServiceAccount:\n%s", evs)
	}
}

func TestAnApprovedRequestWaitsForItsServiceAccount(t *testing.T) {
	objs := fixture()
	for i, o := range objs {
		if _, ok := o.(*corev1.ServiceAccount); ok {
			objs = append(objs[:i], objs[i+1:]...)
			break
		}
	}
	h := newHarness(t, interceptor.Funcs{}, objs...)
	reg := withMetrics(t, h)
	res, err := h.reconcile(t, "view-req")
	if err != nil {
		t.Fatal(err)
	}
	ar := h.request(t, "view-req")
	if readyReason(ar) != accessv1alpha1.ReasonServiceAccountNotFound || len(h.bindings(t)) != 0 || res.RequeueAfter != 0 {
		t.Fatalf("Ready %s, %d bindings, requeue %s; want ServiceAccountNotFound, none, none (the watch wakes it)",
			readyReason(ar), len(h.bindings(t)), res.RequeueAfter)
	}
	if evs := strings.Join(h.events(), "\n"); !strings.Contains(evs, "Warning ServiceAccountNotFound") {
		t.Errorf("no Warning ServiceAccountNotFound event:\n%s", evs)
	}
	if v := value(t, reg, metrics.ReconcileErrors, map[string]string{"reason": accessv1alpha1.ReasonServiceAccountNotFound}); v != 1 {
		t.Errorf("%s{reason=ServiceAccountNotFound} = %v, want 1", metrics.ReconcileErrors, v)
	}
	sa := grantee()
	sa.CreationTimestamp = metav1.NewTime(h.clock.Now())
	if err := h.c.Create(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	if ar = h.request(t, "view-req"); readyReason(ar) != accessv1alpha1.ReasonGranted || ar.Status.ServiceAccountUID != string(sa.UID) {
		t.Fatalf("after the ServiceAccount was created: Ready %s, serviceAccountUID %q", readyReason(ar), ar.Status.ServiceAccountUID)
	}
}

func TestEndedRequestsReleaseTheirFinalizer(t *testing.T) {
	h := newHarness(t, interceptor.Funcs{})
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	if ar := h.request(t, "view-req"); !controllerutil.ContainsFinalizer(ar, accessv1alpha1.RevokeFinalizer) {
		t.Fatal("a granted request must hold its finalizer: deleting it revokes")
	}
	h.clock.SetTime(t0.Add(2 * time.Hour))
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	ar := h.request(t, "view-req")
	if readyReason(ar) != accessv1alpha1.ReasonExpired || controllerutil.ContainsFinalizer(ar, accessv1alpha1.RevokeFinalizer) {
		t.Fatalf("Ready %s, finalizers %v; want Expired and none", readyReason(ar), ar.Finalizers)
	}
	// Later passes do not put it back.
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	if ar = h.request(t, "view-req"); controllerutil.ContainsFinalizer(ar, accessv1alpha1.RevokeFinalizer) {
		t.Fatalf("the finalizer came back on an ended request")
	}
}

func TestBindingNamesAreValidForEveryNameLength(t *testing.T) {
	cut := 253 - len(bindingPrefix) - 1 - hashLength
	for _, name := range []string{
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 253),
		// The cut falls right after a '.' or a '-': the result must not end a DNS label with it.
		strings.Repeat("a", cut-1) + "." + strings.Repeat("b", 253-cut),
		strings.Repeat("a", cut-2) + ".-" + strings.Repeat("b", 253-cut),
	} {
		rb := DesiredBinding(fakeRequest(name, accessv1alpha1.RoleKindRole, "r"), t0)
		if errs := validation.IsDNS1123Subdomain(rb.Name); len(errs) > 0 {
			t.Errorf("binding name for a %d-character request is invalid: %v", len(name), errs)
		}
		if errs := validation.IsValidLabelValue(rb.Labels[accessv1alpha1.RequestLabel]); len(errs) > 0 {
			t.Errorf("label value for a %d-character request is invalid: %v", len(name), errs)
		}
		if !BelongsTo(rb, "payments", name) || BelongsTo(rb, "payments", name+"x") {
			t.Errorf("BelongsTo does not tell the %d-character request's binding apart", len(name))
		}
	}
}

func TestABindingSharingAHashedLabelValueIsNotAnother(t *testing.T) {
	// A 63-character name equal to the hashed label value of a longer one.
	long := fakeRequest(strings.Repeat("l", 100), accessv1alpha1.RoleKindClusterRole, "view")
	h := newHarness(t, interceptor.Funcs{})
	short := accessv1alpha1.RequestLabelValue(long.Name)
	foreign := DesiredBinding(long, t0.Add(time.Hour))
	if err := h.c.Create(context.Background(), foreign); err != nil {
		t.Fatal(err)
	}
	if got := foreign.Labels[accessv1alpha1.RequestLabel]; got != short {
		t.Fatalf("label = %q, want %q", got, short)
	}
	r := h.r
	mine, err := r.requestBindings(context.Background(), "payments", short)
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 0 {
		t.Errorf("the request named %q claims the binding of the request named %q", short, long.Name)
	}
	theirs, err := r.requestBindings(context.Background(), "payments", long.Name)
	if err != nil || len(theirs) != 1 {
		t.Errorf("the long request's bindings = %d, %v; want its one binding", len(theirs), err)
	}
}

func TestAFailedReadIsReported(t *testing.T) {
	fail := true
	h := newHarness(t, interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*accessv1alpha1.ApprovalPolicyList); ok && fail {
				return apierrors.NewServiceUnavailable("the cache is not synced")
			}
			return c.List(ctx, list, opts...)
		},
	})
	reg := withMetrics(t, h)
	if _, err := h.reconcile(t, "view-req"); err == nil {
		t.Fatal("reconcile must return the error, so that the workqueue retries with backoff")
	}
	ar := h.request(t, "view-req")
	c := findCondition(ar.Status.Conditions, accessv1alpha1.ConditionReady)
	if c == nil || c.Reason != accessv1alpha1.ReasonReadFailed || !strings.Contains(c.Message, "listing ApprovalPolicies") ||
		!strings.Contains(c.Message, "the cache is not synced") {
		t.Fatalf("Ready = %+v, want ReadFailed naming what could not be read and why", c)
	}
	if evs := strings.Join(h.events(), "\n"); !strings.Contains(evs, "Warning ReadFailed") {
		t.Errorf("no Warning ReadFailed event:\n%s", evs)
	}
	if v := value(t, reg, metrics.ReconcileErrors, map[string]string{"reason": accessv1alpha1.ReasonReadFailed}); v != 1 {
		t.Errorf("%s{reason=ReadFailed} = %v, want 1", metrics.ReconcileErrors, v)
	}
	fail = false
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	if ar = h.request(t, "view-req"); readyReason(ar) != accessv1alpha1.ReasonGranted {
		t.Fatalf("after the retry: Ready %s, want Granted", readyReason(ar))
	}
}

// atGeneration is the fixture with view-req at generation 2, its status
// describing generation 1 (the fake client never bumps generations).
func atGeneration() []client.Object {
	objs := fixture()
	for _, o := range objs {
		if ar, ok := o.(*accessv1alpha1.AccessRequest); ok && ar.Name == "view-req" {
			ar.Generation, ar.Status.ObservedGeneration = 2, 1
		}
	}
	return objs
}

// failListingBindings makes listing RoleBindings fail while fail is true.
func failListingBindings(fail *bool) interceptor.Funcs {
	return interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*rbacv1.RoleBindingList); ok && *fail {
				return apierrors.NewServiceUnavailable("etcd is unavailable")
			}
			return c.List(ctx, list, opts...)
		},
	}
}

func TestObservedGenerationAdvancesOnlyWhenActingSucceeded(t *testing.T) {
	cases := []struct {
		name   string
		funcs  func(fail *bool) interceptor.Funcs
		reason string
	}{
		{"a refused binding create", refuseBindings, accessv1alpha1.ReasonBindingFailed},
		{"a failed read of the request's bindings", failListingBindings, accessv1alpha1.ReasonReadFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fail := true
			h := newHarness(t, tc.funcs(&fail), atGeneration()...)
			if _, err := h.reconcile(t, "view-req"); err == nil {
				t.Fatal("reconcile must return the error")
			}
			ar := h.request(t, "view-req")
			ready := findCondition(ar.Status.Conditions, accessv1alpha1.ConditionReady)
			if ready == nil || ready.Reason != tc.reason || ready.ObservedGeneration != 2 {
				t.Fatalf("Ready = %+v, want reason %s for generation 2: the failure is written", ready, tc.reason)
			}
			if ar.Status.ObservedGeneration != 1 {
				t.Errorf("observedGeneration = %d after the failure, want 1: generation 2 was not acted on", ar.Status.ObservedGeneration)
			}
			if got := kstatusOf(t, ar); got != "InProgress" {
				t.Errorf("kstatus after the failure = %s, want InProgress", got)
			}

			fail = false
			if _, err := h.reconcile(t, "view-req"); err != nil {
				t.Fatal(err)
			}
			ar = h.request(t, "view-req")
			if readyReason(ar) != accessv1alpha1.ReasonGranted || ar.Status.ObservedGeneration != 2 {
				t.Errorf("after the retry: Ready %s, observedGeneration %d; want Granted and 2", readyReason(ar), ar.Status.ObservedGeneration)
			}
		})
	}
}
