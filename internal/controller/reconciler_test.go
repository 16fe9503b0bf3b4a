package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/audit"
	"rolegate.dev/rolegate/internal/snapshot"
)

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := accessv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture is a namespace governed by a policy with an auto-approved
// ClusterRole and a human-approved Role, and one request for each.
func fixture() []client.Object {
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments", Labels: map[string]string{"team": "payments"}}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "db-migrator", Namespace: "payments"}},
		&accessv1alpha1.ApprovalPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "payments"},
			Spec: accessv1alpha1.ApprovalPolicySpec{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}},
				Entitlements: []accessv1alpha1.Entitlement{
					{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "view"},
						MaxDuration: metav1.Duration{Duration: 8 * time.Hour}, AutoApprove: true},
					{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "db-migrator"},
						MaxDuration: metav1.Duration{Duration: time.Hour}, Sensitivity: accessv1alpha1.SensitivityHigh},
				},
				Approvers: []accessv1alpha1.ApproverTier{{Name: "security", RequiredApprovals: 1,
					Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "security-oncall"}}}},
			},
		},
		grantee(),
		fakeRequest("view-req", accessv1alpha1.RoleKindClusterRole, "view"),
		fakeRequest("migrate-req", accessv1alpha1.RoleKindRole, "db-migrator"),
	}
}

// grantee is the ServiceAccount the fixture's requests grant to, created
// before them.
func grantee() *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ledger-migrator", Namespace: "payments",
		UID: "ledger-migrator-uid", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))}}
}

func fakeRequest(name string, kind accessv1alpha1.RoleKind, role string) *accessv1alpha1.AccessRequest {
	return &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "payments", UID: types.UID(name + "-uid"),
			CreationTimestamp: metav1.NewTime(t0), Finalizers: []string{accessv1alpha1.RevokeFinalizer}},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "ledger-migrator"},
			RoleRef:        accessv1alpha1.RoleRef{Kind: kind, Name: role},
			Duration:       metav1.Duration{Duration: time.Hour},
			Justification:  "CHG-1234",
			Requester:      &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{Username: "dave"}},
		},
	}
}

type harness struct {
	r        *AccessRequestReconciler
	c        client.Client
	clock    *clocktesting.FakeClock
	recorder *events.FakeRecorder
	audit    *bytes.Buffer
}

func newHarness(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) *harness {
	t.Helper()
	if len(objs) == 0 {
		objs = fixture()
	}
	b := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).
		WithStatusSubresource(&accessv1alpha1.AccessRequest{}, &accessv1alpha1.AccessDecision{}, &accessv1alpha1.ApprovalPolicy{})
	for _, ix := range snapshot.Indexes() {
		b = b.WithIndex(ix.Object, ix.Field, ix.Extract)
	}
	base := b.Build()
	c := interceptor.NewClient(base, funcs)
	h := &harness{c: c, clock: clocktesting.NewFakeClock(t0.Add(time.Minute)), recorder: events.NewFakeRecorder(100), audit: &bytes.Buffer{}}
	// A long recheck lets the tests see the exact RequeueAfter for expiry
	// and escalation; TestRecheckBoundsHowLateAClockJumpIsNoticed covers the cap.
	h.r = &AccessRequestReconciler{Client: c, APIReader: c, Clock: h.clock, Recorder: h.recorder, Audit: audit.NewJSONSink(h.audit),
		RecheckInterval: 1000 * time.Hour}
	return h
}

func (h *harness) reconcile(t *testing.T, name string) (ctrl.Result, error) {
	t.Helper()
	return h.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "payments", Name: name}})
}

func (h *harness) request(t *testing.T, name string) *accessv1alpha1.AccessRequest {
	t.Helper()
	ar := &accessv1alpha1.AccessRequest{}
	if err := h.c.Get(context.Background(), types.NamespacedName{Namespace: "payments", Name: name}, ar); err != nil {
		t.Fatal(err)
	}
	return ar
}

func (h *harness) bindings(t *testing.T) []rbacv1.RoleBinding {
	t.Helper()
	var list rbacv1.RoleBindingList
	if err := h.c.List(context.Background(), &list, client.InNamespace("payments")); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func readyReason(ar *accessv1alpha1.AccessRequest) string {
	return conditionReason(ar.Status.Conditions, accessv1alpha1.ConditionReady)
}

func TestReconcileGrantsAndRequeuesForExpiry(t *testing.T) {
	h := newHarness(t, interceptor.Funcs{})
	res, err := h.reconcile(t, "view-req")
	if err != nil {
		t.Fatal(err)
	}
	if res.RequeueAfter != time.Hour {
		t.Errorf("RequeueAfter = %s, want the full hour until expiry", res.RequeueAfter)
	}
	ar := h.request(t, "view-req")
	if readyReason(ar) != accessv1alpha1.ReasonGranted || !ar.Status.ExpiresAt.Equal(&metav1.Time{Time: t0.Add(time.Hour + time.Minute)}) {
		t.Fatalf("status = %+v", ar.Status)
	}
	if len(h.bindings(t)) != 1 {
		t.Fatalf("bindings = %d, want 1", len(h.bindings(t)))
	}

	// The clock reaches expiry: the next pass revokes.
	h.clock.SetTime(t0.Add(time.Hour + time.Minute))
	if res, err = h.reconcile(t, "view-req"); err != nil || res.RequeueAfter != 0 {
		t.Fatalf("reconcile at expiry = %+v, %v", res, err)
	}
	ar = h.request(t, "view-req")
	if readyReason(ar) != accessv1alpha1.ReasonExpired || ar.Status.RevokedAt == nil || len(h.bindings(t)) != 0 {
		t.Fatalf("after expiry: ready %s, revokedAt %v, %d bindings", readyReason(ar), ar.Status.RevokedAt, len(h.bindings(t)))
	}
	evs := strings.Join(h.events(), "\n")
	for _, want := range []string{"Normal Validated", "Normal Approved", "Normal Granted", "Normal Expired"} {
		if !strings.Contains(evs, want) {
			t.Errorf("events lack %q:\n%s", want, evs)
		}
	}
	lines := strings.Split(strings.TrimSpace(h.audit.String()), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if last["event"] != "Expired" || last["requester"] != "dave" || last["revokedAt"] == nil || last["expiresAt"] == nil {
		t.Errorf("last audit line = %v", last)
	}
}

func TestNothingIsGrantedWhenCreatingTheBindingFails(t *testing.T) {
	h := newHarness(t, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*rbacv1.RoleBinding); ok {
				return apierrors.NewInternalError(errors.New("etcd is down"))
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	if _, err := h.reconcile(t, "view-req"); err == nil {
		t.Fatal("reconcile must fail when the binding cannot be created")
	}
	ar := h.request(t, "view-req")
	if ar.Status.GrantedAt != nil || readyReason(ar) == accessv1alpha1.ReasonGranted {
		t.Errorf("status claims a grant that does not exist: %+v", ar.Status)
	}
	for _, e := range h.events() {
		if strings.Contains(e, "Granted") {
			t.Errorf("event %q for a failed grant", e)
		}
	}
	if strings.Contains(h.audit.String(), `"Granted"`) {
		t.Errorf("audit line for a failed grant: %s", h.audit.String())
	}
}

func TestFailedRevocationIsRetriedNotRecordedAsDone(t *testing.T) {
	fail := true
	h := newHarness(t, interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if _, ok := obj.(*rbacv1.RoleBinding); ok && fail {
				return apierrors.NewServiceUnavailable("try later")
			}
			return c.Delete(ctx, obj, opts...)
		},
	})
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	h.clock.SetTime(t0.Add(2 * time.Hour))
	if _, err := h.reconcile(t, "view-req"); err == nil {
		t.Fatal("reconcile must fail when the binding cannot be deleted")
	}
	if ar := h.request(t, "view-req"); ar.Status.RevokedAt != nil {
		t.Errorf("revokedAt recorded although the binding still exists")
	}
	fail = false
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	if ar := h.request(t, "view-req"); ar.Status.RevokedAt == nil || len(h.bindings(t)) != 0 {
		t.Errorf("retry did not revoke: revokedAt %v, %d bindings", ar.Status.RevokedAt, len(h.bindings(t)))
	}
}

func TestStatusWrittenByHandGrantsNothing(t *testing.T) {
	h := newHarness(t, interceptor.Funcs{})
	// Someone with status access fakes an approval and a grant on a request
	// that nobody approved.
	ar := h.request(t, "migrate-req")
	future := metav1.NewTime(t0.Add(100 * time.Hour))
	ar.Status.GrantedAt, ar.Status.ExpiresAt = &future, &future
	meta.SetStatusCondition(&ar.Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionApproved, Status: metav1.ConditionTrue, Reason: "Approved"})
	meta.SetStatusCondition(&ar.Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Granted"})
	ar.Status.Approvals = []accessv1alpha1.ApprovalRecord{{Reviewer: "carol", Decision: accessv1alpha1.DecisionApprove, Time: metav1.NewTime(t0)}}
	if err := h.c.Status().Update(context.Background(), ar); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reconcile(t, "migrate-req"); err != nil {
		t.Fatal(err)
	}
	if n := len(h.bindings(t)); n != 0 {
		t.Fatalf("faked status produced %d bindings", n)
	}
	ar = h.request(t, "migrate-req")
	if len(ar.Status.Approvals) != 0 {
		t.Errorf("faked approvals survived: %+v", ar.Status.Approvals)
	}
	// A faked grantedAt counts as evidence of a grant that the decisions
	// do not support, so the request is closed rather than left pending.
	if r := readyReason(ar); r != accessv1alpha1.ReasonRevoked {
		t.Errorf("ready = %s, want Revoked", r)
	}
}

func TestStatusWrittenByHandCannotExtendAGrant(t *testing.T) {
	h := newHarness(t, interceptor.Funcs{})
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	ar := h.request(t, "view-req")
	want := ar.Status.ExpiresAt.Time
	later := metav1.NewTime(t0.Add(5 * time.Hour))
	ar.Status.GrantedAt, ar.Status.ExpiresAt = &later, &later
	if err := h.c.Status().Update(context.Background(), ar); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	if got := h.request(t, "view-req").Status.ExpiresAt.Time; !got.Equal(want) {
		t.Errorf("expiresAt = %s after a faked later grantedAt, want the original %s", got, want)
	}
}

func TestConflictsAreRetriedQuietly(t *testing.T) {
	conflicts := 1
	h := newHarness(t, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			if _, ok := obj.(*accessv1alpha1.AccessRequest); ok && conflicts > 0 {
				conflicts--
				return apierrors.NewConflict(schema.GroupResource{Group: "access.rolegate.dev", Resource: "accessrequests"}, obj.GetName(), errors.New("stale"))
			}
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	})
	res, err := h.reconcile(t, "view-req")
	if err != nil || res.RequeueAfter != conflictRetry {
		t.Fatalf("reconcile = %+v, %v; want a quiet retry after %s", res, err, conflictRetry)
	}
	if len(h.events()) != 0 {
		t.Errorf("events were emitted for a status that was not written")
	}
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	ar := h.request(t, "view-req")
	if readyReason(ar) != accessv1alpha1.ReasonGranted || len(h.bindings(t)) != 1 {
		t.Fatalf("after retry: ready %s, %d bindings", readyReason(ar), len(h.bindings(t)))
	}
}

func TestBindingNameIsDeterministicAndBounded(t *testing.T) {
	a := fakeRequest("x", accessv1alpha1.RoleKindRole, "r")
	b := fakeRequest("x", accessv1alpha1.RoleKindRole, "r")
	b.UID = "another-uid"
	if BindingName(a) != BindingName(a.DeepCopy()) {
		t.Error("the name must not change between calls")
	}
	if BindingName(a) == BindingName(b) {
		t.Error("a request re-created under the same name must get another binding name")
	}
	if !strings.HasPrefix(BindingName(a), "rolegate-x-") {
		t.Errorf("name = %s", BindingName(a))
	}
	long := fakeRequest(strings.Repeat("a", 253), accessv1alpha1.RoleKindRole, "r")
	if n := len(BindingName(long)); n > 253 {
		t.Errorf("name length = %d, want at most 253", n)
	}
}

func TestGrantEvidenceTakesTheEarliestSign(t *testing.T) {
	ar := fakeRequest("x", accessv1alpha1.RoleKindRole, "r")
	owned := DesiredBinding(ar, t0.Add(time.Hour))
	owned.CreationTimestamp = metav1.NewTime(t0.Add(2 * time.Minute))
	foreign := owned.DeepCopy()
	foreign.OwnerReferences = nil
	foreign.CreationTimestamp = metav1.NewTime(t0.Add(time.Second))
	at := func(d time.Duration) *metav1.Time { m := metav1.NewTime(t0.Add(d)); return &m }
	now := t0.Add(time.Hour)
	cases := []struct {
		name     string
		status   *metav1.Time
		bindings []rbacv1.RoleBinding
		want     time.Time
	}{
		{"no evidence means never granted", nil, nil, time.Time{}},
		{"a binding the request controls is evidence", nil, []rbacv1.RoleBinding{*owned}, t0.Add(2 * time.Minute)},
		{"a binding it does not control is not", nil, []rbacv1.RoleBinding{*foreign}, time.Time{}},
		{"the earlier of status and binding wins", at(5 * time.Minute), []rbacv1.RoleBinding{*owned}, t0.Add(2 * time.Minute)},
		{"a grant never starts before the request existed", at(-time.Hour), nil, t0},
		{"a grant never starts in the future", at(3 * time.Hour), nil, now},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := ar.DeepCopy()
			a.Status.GrantedAt = tc.status
			if got := grantEvidence(a, tc.bindings, now); !got.Equal(tc.want) {
				t.Errorf("grantEvidence = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestShorterMaxDurationIsNotReportedAsTampering(t *testing.T) {
	h := newHarness(t, interceptor.Funcs{})
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	h.events()
	p := &accessv1alpha1.ApprovalPolicy{}
	if err := h.c.Get(context.Background(), types.NamespacedName{Name: "payments"}, p); err != nil {
		t.Fatal(err)
	}
	p.Spec.Entitlements[0].MaxDuration = metav1.Duration{Duration: 30 * time.Minute}
	if err := h.c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	for _, e := range h.events() {
		if strings.Contains(e, "Restored") {
			t.Errorf("a policy change was reported as tampering: %s", e)
		}
	}
	rb := h.bindings(t)[0]
	if got := rb.Annotations[accessv1alpha1.ExpiresAtAnnotation]; got != t0.Add(31*time.Minute).Format(time.RFC3339) {
		t.Errorf("expires-at annotation = %s, want the shortened expiry", got)
	}
}

func TestCountedDecisionsKeepTheirVerdictWhenTheGrantIsCut(t *testing.T) {
	objs := fixture()
	objs = append(objs, &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{Name: "carol", Namespace: "payments", CreationTimestamp: metav1.NewTime(t0.Add(30 * time.Second))},
		Spec: accessv1alpha1.AccessDecisionSpec{Request: "migrate-req", Decision: accessv1alpha1.DecisionApprove,
			Reviewer: &accessv1alpha1.UserInfo{Username: "carol", Groups: []string{"security-oncall"}}},
	})
	h := newHarness(t, interceptor.Funcs{}, objs...)
	if _, err := h.reconcile(t, "migrate-req"); err != nil {
		t.Fatal(err)
	}
	if r := readyReason(h.request(t, "migrate-req")); r != accessv1alpha1.ReasonGranted {
		t.Fatalf("ready = %s, want Granted", r)
	}
	p := &accessv1alpha1.ApprovalPolicy{}
	if err := h.c.Get(context.Background(), types.NamespacedName{Name: "payments"}, p); err != nil {
		t.Fatal(err)
	}
	p.Spec.Entitlements = p.Spec.Entitlements[:1]
	if err := h.c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reconcile(t, "migrate-req"); err != nil {
		t.Fatal(err)
	}
	ar := h.request(t, "migrate-req")
	if readyReason(ar) != accessv1alpha1.ReasonRevoked || ar.Status.Tier != "" {
		t.Fatalf("ready = %s, tier = %q; want Revoked and no deciding tier for an invalid request", readyReason(ar), ar.Status.Tier)
	}
	d := &accessv1alpha1.AccessDecision{}
	if err := h.c.Get(context.Background(), types.NamespacedName{Namespace: "payments", Name: "carol"}, d); err != nil {
		t.Fatal(err)
	}
	if r := conditionReason(d.Status.Conditions, accessv1alpha1.ConditionCounted); r != accessv1alpha1.ReasonCounted {
		t.Errorf("carol's approval now says %s; a decision that took effect keeps Counted", r)
	}
}

func TestDeletionIsAnnouncedOnceEvenWhenTheFinalizerIsRetried(t *testing.T) {
	conflicts := 1
	h := newHarness(t, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			if ar, ok := obj.(*accessv1alpha1.AccessRequest); ok && !ar.DeletionTimestamp.IsZero() && conflicts > 0 {
				conflicts--
				return apierrors.NewConflict(schema.GroupResource{Group: "access.rolegate.dev", Resource: "accessrequests"}, ar.Name, errors.New("stale"))
			}
			return c.Patch(ctx, obj, p, opts...)
		},
	})
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	if err := h.c.Delete(context.Background(), h.request(t, "view-req")); err != nil {
		t.Fatal(err)
	}
	res, err := h.reconcile(t, "view-req")
	if err != nil || res.RequeueAfter != conflictRetry {
		t.Fatalf("first pass = %+v, %v; want a quiet retry", res, err)
	}
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	if n := len(h.bindings(t)); n != 0 {
		t.Fatalf("%d bindings after deletion", n)
	}
	revoked := 0
	for _, e := range h.events() {
		if strings.Contains(e, "Revoked") {
			revoked++
		}
	}
	if revoked != 1 || strings.Count(h.audit.String(), `"event":"Revoked"`) != 1 {
		t.Errorf("deletion announced %d times in events and %d in the audit log, want once each",
			revoked, strings.Count(h.audit.String(), `"event":"Revoked"`))
	}
}

func TestRecheckBoundsHowLateAClockJumpIsNoticed(t *testing.T) {
	h := newHarness(t, interceptor.Funcs{})
	h.r.RecheckInterval = 0 // the default
	res, err := h.reconcile(t, "view-req")
	if err != nil {
		t.Fatal(err)
	}
	if res.RequeueAfter != DefaultRecheckInterval {
		t.Fatalf("RequeueAfter = %s for a 1h grant, want the %s recheck", res.RequeueAfter, DefaultRecheckInterval)
	}
	// The wall clock jumps two hours while the timer waits its 5 minutes.
	h.clock.SetTime(t0.Add(2 * time.Hour))
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	if ar := h.request(t, "view-req"); readyReason(ar) != accessv1alpha1.ReasonExpired || len(h.bindings(t)) != 0 {
		t.Fatalf("after the jump: %s with %d bindings, want Expired and none", readyReason(ar), len(h.bindings(t)))
	}
}

// A pass that created the binding and stopped before writing the status
// (the manager restarting) leaves a grant only the binding proves. When the
// next pass finds it already expired, the grant is still recorded and
// announced before its end: the audit trail never misses access that existed.
func TestGrantCutShortBeforeItsRecordIsAnnouncedWhenItEnds(t *testing.T) {
	stopping := true
	created := t0.Add(time.Minute) // the fake client sets no creationTimestamp; the API server would
	h := newHarness(t, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			obj.SetCreationTimestamp(metav1.NewTime(created))
			if err := c.Create(ctx, obj, opts...); err != nil {
				return err
			}
			if _, ok := obj.(*rbacv1.RoleBinding); ok && stopping {
				return context.Canceled // applied, but the manager stopped before it heard so
			}
			return nil
		},
	})
	if _, err := h.reconcile(t, "view-req"); !errors.Is(err, context.Canceled) {
		t.Fatalf("reconcile = %v, want the cancellation", err)
	}
	if ar := h.request(t, "view-req"); ar.Status.GrantedAt != nil || len(h.bindings(t)) != 1 {
		t.Fatalf("setup: grantedAt %v, %d bindings; want an unrecorded binding", ar.Status.GrantedAt, len(h.bindings(t)))
	}
	stopping = false
	h.clock.Step(2 * time.Hour)
	if _, err := h.reconcile(t, "view-req"); err != nil {
		t.Fatal(err)
	}
	ar := h.request(t, "view-req")
	if readyReason(ar) != accessv1alpha1.ReasonExpired || ar.Status.GrantedAt == nil || len(h.bindings(t)) != 0 {
		t.Fatalf("ready %s, grantedAt %v, %d bindings; want Expired with the grant recorded and no binding",
			readyReason(ar), ar.Status.GrantedAt, len(h.bindings(t)))
	}
	if c := meta.FindStatusCondition(ar.Status.Conditions, accessv1alpha1.ConditionReady); strings.Contains(c.Message, "not been granted") {
		t.Errorf("Ready says %q about a grant that existed", c.Message)
	}
	var announced []string
	for _, line := range strings.Split(strings.TrimSpace(h.audit.String()), "\n") {
		var rec struct{ Event string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Event == "Granted" || rec.Event == "Expired" {
			announced = append(announced, rec.Event)
		}
	}
	if strings.Join(announced, ",") != "Granted,Expired" {
		t.Errorf("audit events = %v, want Granted then Expired", announced)
	}
}
