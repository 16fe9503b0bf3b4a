package argocd_test

import (
	"context"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/audit"
	"rolegate.dev/rolegate/internal/controller"
	"rolegate.dev/rolegate/internal/scheme"
	"rolegate.dev/rolegate/internal/snapshot"
)

// The controller-driven tests below run rolegate's real reconcilers against
// a fake API server, built from the samples in config/samples, and check two
// things for every lifecycle state: the health.lua verdict on the status the
// controller wrote, and that the hand-written fixture for that state carries
// the same conditions (type, status, reason) as the controller writes.
// ARGOCD_DUMP=1 go test ./test/argocd/ -run TestControllerWritten -v logs
// each object as the controller left it, to start a new fixture from.

var t0 = time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)

const (
	ns          = "payments"
	requestName = "ledger-migrate-4711"
	samplesDir  = "../../config/samples/"
)

type world struct {
	t     *testing.T
	c     client.Client
	clock *clocktesting.FakeClock
	ar    *controller.AccessRequestReconciler
	ap    *controller.ApprovalPolicyReconciler
}

func loadSample[T any](t *testing.T, file string, into *T) *T {
	t.Helper()
	b, err := os.ReadFile(samplesDir + file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return into
}

// newWorld is the payments namespace governed by the sample policy, with the
// sample request as dave (payments-devs) created it through the webhook.
func newWorld(t *testing.T, extra ...client.Object) *world {
	t.Helper()
	pol := loadSample(t, "access_v1alpha1_approvalpolicy.yaml", &accessv1alpha1.ApprovalPolicy{})
	pol.Generation = 1
	req := loadSample(t, "access_v1alpha1_accessrequest.yaml", &accessv1alpha1.AccessRequest{})
	req.UID = "63a3d007-06c6-4045-b296-8a8e651fd26b"
	req.Generation = 1
	req.CreationTimestamp = metav1.NewTime(t0)
	req.Finalizers = []string{accessv1alpha1.RevokeFinalizer}
	req.Spec.Requester = &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{
		Username: "dave", Groups: []string{"payments-devs", "system:authenticated"}}}
	objs := append([]client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": "payments"}}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "db-migrator", Namespace: ns}},
		// The grantee exists: rolegate grants only to an existing ServiceAccount.
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: req.Spec.ServiceAccount.Name, Namespace: ns}},
		pol, req,
	}, extra...)
	b := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objs...).
		WithStatusSubresource(&accessv1alpha1.AccessRequest{}, &accessv1alpha1.AccessDecision{}, &accessv1alpha1.ApprovalPolicy{})
	for _, ix := range snapshot.Indexes() {
		b = b.WithIndex(ix.Object, ix.Field, ix.Extract)
	}
	c := b.Build()
	clock := clocktesting.NewFakeClock(t0.Add(time.Minute))
	return &world{
		t: t, c: c, clock: clock,
		ar: &controller.AccessRequestReconciler{Client: c, APIReader: c, Clock: clock,
			Recorder: events.NewFakeRecorder(100), Audit: audit.NewJSONSink(io.Discard)},
		ap: &controller.ApprovalPolicyReconciler{Client: c},
	}
}

func (w *world) at(d time.Duration) *world {
	w.clock.SetTime(t0.Add(d))
	return w
}

// decide has reviewer (with groups) submit a decision on the request.
func (w *world) decide(name, reviewer string, groups []string, d accessv1alpha1.DecisionType, comment string) {
	w.t.Helper()
	dec := &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 1,
			CreationTimestamp: metav1.NewTime(w.clock.Now())},
		Spec: accessv1alpha1.AccessDecisionSpec{Request: requestName, Decision: d, Comment: comment,
			Reviewer: &accessv1alpha1.UserInfo{Username: reviewer, Groups: groups}},
	}
	if err := w.c.Create(context.Background(), dec); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) reconcileRequest() {
	w.t.Helper()
	if _, err := w.ar.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: requestName}}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) reconcilePolicy() {
	w.t.Helper()
	if _, err := w.ap.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: "payments"}}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) get(key client.ObjectKey, obj client.Object, kind string) *unstructured.Unstructured {
	w.t.Helper()
	if err := w.c.Get(context.Background(), key, obj); err != nil {
		w.t.Fatal(err)
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		w.t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(accessv1alpha1.GroupVersion.String())
	u.SetKind(kind)
	return u
}

func (w *world) request() *unstructured.Unstructured {
	return w.get(client.ObjectKey{Namespace: ns, Name: requestName}, &accessv1alpha1.AccessRequest{}, "AccessRequest")
}

func (w *world) decision(name string) *unstructured.Unstructured {
	return w.get(client.ObjectKey{Namespace: ns, Name: name}, &accessv1alpha1.AccessDecision{}, "AccessDecision")
}

func (w *world) policy() *unstructured.Unstructured {
	return w.get(client.ObjectKey{Name: "payments"}, &accessv1alpha1.ApprovalPolicy{}, "ApprovalPolicy")
}

var (
	carol = []string{"security-oncall", "system:authenticated"}
	alice = []string{"payments-owners", "system:authenticated"}
)

// approved has carol approve the request and rolegate grant it.
func approved(w *world) {
	w.at(5*time.Minute).decide(requestName+"-carol", "carol", carol, accessv1alpha1.DecisionApprove, "ok for CHG-1234")
	w.reconcileRequest()
}

// conditionSignature lists a status's conditions as Type=Status/Reason.
func conditionSignature(t *testing.T, u *unstructured.Unstructured) []string {
	t.Helper()
	conds, _, err := unstructured.NestedSlice(u.Object, "status", "conditions")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(conds))
	for _, c := range conds {
		m, _ := c.(map[string]any)
		out = append(out, m["type"].(string)+"="+m["status"].(string)+"/"+m["reason"].(string))
	}
	slices.Sort(out)
	return out
}

func expected(t *testing.T, cases []healthCase, fixture string) health {
	t.Helper()
	for _, tc := range cases {
		if tc.fixture == fixture {
			return tc.want
		}
	}
	t.Fatalf("no expected health for fixture %s", fixture)
	return health{}
}

// checkAgainstFixture runs kind's health.lua on what the controller wrote
// and compares it, and the conditions, with the fixture.
func checkAgainstFixture(t *testing.T, kind string, cases []healthCase, fixture string, live *unstructured.Unstructured) {
	t.Helper()
	if os.Getenv("ARGOCD_DUMP") != "" {
		b, _ := yaml.Marshal(live.Object)
		t.Logf("%s/%s:\n%s", kind, fixture, b)
	}
	want := expected(t, cases, fixture)
	if got := runHealth(t, readScript(t, kind), live.Object); got.Status != want.Status {
		t.Errorf("health of the controller's %s = %s, want %s", fixture, got, want.Status)
	}
	fx := loadObject(t, fixturePath(kind, fixture))
	if got, want := conditionSignature(t, live), conditionSignature(t, fx); !slices.Equal(got, want) {
		t.Errorf("the controller writes conditions\n  %v\nbut %s has\n  %v", got, fixturePath(kind, fixture), want)
	}

	// Until rolegate has seen a new generation, the object is in progress.
	live = live.DeepCopy()
	live.SetGeneration(live.GetGeneration() + 1)
	if got := runHealth(t, readScript(t, kind), live.Object); got.Status != statusProg {
		t.Errorf("health of %s with a newer generation = %s, want Progressing", fixture, got)
	}
}

func TestControllerWrittenRequestStatus(t *testing.T) {
	cases := []struct {
		fixture string
		drive   func(w *world)
	}{
		{"pending", func(w *world) { w.reconcileRequest() }},
		{"granted", approved},
		{"expired", func(w *world) {
			approved(w)
			w.at(2 * time.Hour).reconcileRequest()
		}},
		{"revoked", func(w *world) {
			approved(w)
			w.at(20*time.Minute).decide(requestName+"-carol-revoke", "carol", carol, accessv1alpha1.DecisionRevoke, "CHG-1234 done early")
			w.reconcileRequest()
		}},
		{"policy-changed", func(w *world) {
			approved(w)
			p := &accessv1alpha1.ApprovalPolicy{}
			if err := w.c.Get(context.Background(), client.ObjectKey{Name: "payments"}, p); err != nil {
				t.Fatal(err)
			}
			p.Spec.Entitlements = p.Spec.Entitlements[:1] // only ClusterRole/view remains
			if err := w.c.Update(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			w.at(20 * time.Minute).reconcileRequest()
		}},
		{"denied", func(w *world) {
			w.at(5*time.Minute).decide(requestName+"-carol", "carol", carol, accessv1alpha1.DecisionDeny, "use the read-only replica")
			w.reconcileRequest()
		}},
		{"timed-out", func(w *world) { w.at(73 * time.Hour).reconcileRequest() }},
		{"invalid", func(w *world) {
			if err := w.c.Delete(context.Background(), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "db-migrator", Namespace: ns}}); err != nil {
				t.Fatal(err)
			}
			w.reconcileRequest()
		}},
		{"binding-conflict", func(w *world) {
			ar := &accessv1alpha1.AccessRequest{}
			if err := w.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: requestName}, ar); err != nil {
				t.Fatal(err)
			}
			foreign := &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: controller.BindingName(ar), Namespace: ns},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "db-migrator"},
			}
			if err := w.c.Create(context.Background(), foreign); err != nil {
				t.Fatal(err)
			}
			approved(w)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			w := newWorld(t)
			tc.drive(w)
			checkAgainstFixture(t, "AccessRequest", requestCases, tc.fixture, w.request())
		})
	}
}

func TestControllerWrittenDecisionStatus(t *testing.T) {
	t.Run("counted", func(t *testing.T) {
		w := newWorld(t)
		approved(w)
		checkAgainstFixture(t, "AccessDecision", decisionCases, "counted", w.decision(requestName+"-carol"))
	})
	t.Run("not-counted", func(t *testing.T) {
		w := newWorld(t)
		w.at(5*time.Minute).decide(requestName+"-alice", "alice", alice, accessv1alpha1.DecisionApprove, "fine by me")
		w.reconcileRequest()
		checkAgainstFixture(t, "AccessDecision", decisionCases, "not-counted", w.decision(requestName+"-alice"))
	})
}

func TestControllerWrittenPolicyStatus(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		w := newWorld(t)
		w.reconcilePolicy()
		checkAgainstFixture(t, "ApprovalPolicy", policyCases, "ready", w.policy())
	})
	t.Run("not-ready", func(t *testing.T) {
		w := newWorld(t)
		if err := w.c.Delete(context.Background(), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "db-migrator", Namespace: ns}}); err != nil {
			t.Fatal(err)
		}
		w.reconcilePolicy()
		checkAgainstFixture(t, "ApprovalPolicy", policyCases, "not-ready", w.policy())
	})
}
