// Package fault_test runs rolegate's real manager against a real API server
// while things go wrong: the manager restarts mid-run, the API server
// answers with conflicts and errors, two managers compete for the lease,
// and the clock jumps. Afterwards every approved request must be granted
// exactly once, every expired one revoked, and nothing left behind.
package fault_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/app"
	"rolegate.dev/rolegate/internal/controller"
	"rolegate.dev/rolegate/test/utils"
)

var (
	cfg *rest.Config
	k8s client.Client
)

func TestMain(m *testing.M) {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.DPanicLevel)))
	os.Exit(utils.RunWithControlPlane(m, func(c *rest.Config, k client.Client) (func(), error) {
		cfg, k8s = c, k
		return nil, nil
	}))
}

// manager is a running manager and the audit lines it wrote.
type manager struct {
	*utils.Manager
	audit *utils.SyncBuffer
}

type options struct {
	clock       clock.PassiveClock
	interceptor *interceptor.Funcs
	leader      bool
}

func start(t *testing.T, o options) *manager {
	t.Helper()
	audit := &utils.SyncBuffer{}
	ao := app.Options{
		AuditLog: audit, SkipNameValidation: true, MetricsRegistry: prometheus.NewRegistry(),
		MaxConcurrentReconciles: 4, RecheckInterval: time.Second, Clock: o.clock, Interceptor: o.interceptor,
	}
	if o.leader {
		ao.LeaderElection, ao.LeaderElectionNamespace, ao.LeaseDuration = true, "default", 3*time.Second
	}
	m, err := utils.StartManager(cfg, ao)
	utils.Must(t, err)
	return &manager{Manager: m, audit: audit}
}

var seq atomic.Int32

// world is a namespace governed by a policy with an auto-approved
// ClusterRole and a Role that security approves once.
type world struct{ ns, clusterRole string }

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	n := seq.Add(1)
	w := &world{ns: fmt.Sprintf("fault-%d", n), clusterRole: fmt.Sprintf("fault-view-%d", n)}
	utils.Must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.ns, Labels: map[string]string{"world": w.ns}}}))
	// The grantee exists: rolegate grants only to an existing ServiceAccount.
	utils.Must(t, k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "worker", Namespace: w.ns}}))
	utils.Must(t, k8s.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "migrator", Namespace: w.ns}}))
	utils.Must(t, k8s.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: w.clusterRole}}))
	utils.Must(t, k8s.Create(ctx, &accessv1alpha1.ApprovalPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: w.ns},
		Spec: accessv1alpha1.ApprovalPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"world": w.ns}},
			Entitlements: []accessv1alpha1.Entitlement{
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: w.clusterRole},
					MaxDuration: metav1.Duration{Duration: 8 * time.Hour}, AutoApprove: true},
				{RoleRef: accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "migrator"},
					MaxDuration: metav1.Duration{Duration: 8 * time.Hour}},
			},
			Approvers: []accessv1alpha1.ApproverTier{{Name: "security", RequiredApprovals: 1,
				Subjects: []accessv1alpha1.Subject{{Kind: accessv1alpha1.SubjectGroup, Name: "security-oncall"}}}},
		},
	}))
	return w
}

// kind of request in a run, and what must become of it.
type kind int

const (
	autoShort kind = iota // auto-approved, expires during the run
	approved              // approved by a reviewer, lasts an hour
	denied                // denied by a reviewer
	pending               // never decided
)

func (w *world) create(t *testing.T, name string, k kind) {
	t.Helper()
	ctx := t.Context()
	r := &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "worker"},
			RoleRef:        accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindRole, Name: "migrator"},
			Duration:       metav1.Duration{Duration: time.Hour},
			Justification:  "fault test",
			Requester:      &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{Username: "dave"}},
		},
	}
	if k == autoShort {
		r.Spec.RoleRef = accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: w.clusterRole}
		r.Spec.Duration = metav1.Duration{Duration: time.Duration(2+rand.IntN(4)) * time.Second}
	}
	utils.Must(t, k8s.Create(ctx, r))
	decide := map[kind]accessv1alpha1.DecisionType{approved: accessv1alpha1.DecisionApprove, denied: accessv1alpha1.DecisionDeny}
	if d, ok := decide[k]; ok {
		utils.Must(t, k8s.Create(ctx, &accessv1alpha1.AccessDecision{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-carol", Namespace: w.ns},
			Spec: accessv1alpha1.AccessDecisionSpec{Request: name, Decision: d,
				Reviewer: &accessv1alpha1.UserInfo{Username: "carol", Groups: []string{"security-oncall"}}},
		}))
	}
}

var wantReady = map[kind]string{
	autoShort: accessv1alpha1.ReasonExpired, approved: accessv1alpha1.ReasonGranted,
	denied: accessv1alpha1.ReasonDenied, pending: accessv1alpha1.ReasonPendingApproval,
}

// verify waits for every request to settle and checks what the cluster and
// the audit trail say about it.
// auditExpectation says how often a grant may appear in the audit trail:
// exactly once, or at least once when managers were stopped mid-write (a
// write cut short is announced again by the next manager).
type auditExpectation struct{ atLeastOnce bool }

var (
	exactlyOnce = auditExpectation{}
	atLeastOnce = auditExpectation{atLeastOnce: true}
)

func (w *world) verify(t *testing.T, kinds map[string]kind, a auditExpectation, audits ...*utils.SyncBuffer) {
	t.Helper()
	utils.Eventually(t, 90*time.Second, func() error {
		for name, k := range kinds {
			r := &accessv1alpha1.AccessRequest{}
			if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: w.ns, Name: name}, r); err != nil {
				return err
			}
			if c := meta.FindStatusCondition(r.Status.Conditions, accessv1alpha1.ConditionReady); c == nil || c.Reason != wantReady[k] {
				return fmt.Errorf("%s: Ready = %+v, want %s", name, c, wantReady[k])
			}
		}
		return nil
	})
	var bindings rbacv1.RoleBindingList
	utils.Must(t, k8s.List(t.Context(), &bindings, client.InNamespace(w.ns)))
	byRequest := map[string][]rbacv1.RoleBinding{}
	for _, b := range bindings.Items {
		byRequest[b.Labels[accessv1alpha1.RequestLabel]] = append(byRequest[b.Labels[accessv1alpha1.RequestLabel]], b)
	}
	granted := map[string]int{}
	for _, a := range audits {
		for _, line := range strings.Split(strings.TrimSpace(a.String()), "\n") {
			var rec struct{ Event, Request, Namespace string }
			if line == "" || json.Unmarshal([]byte(line), &rec) != nil || rec.Namespace != w.ns {
				continue
			}
			if rec.Event == "Granted" {
				granted[rec.Request]++
			}
		}
	}
	for name, k := range kinds {
		r := &accessv1alpha1.AccessRequest{}
		utils.Must(t, k8s.Get(t.Context(), client.ObjectKey{Namespace: w.ns, Name: name}, r))
		bs := byRequest[name]
		delete(byRequest, name)
		switch k {
		case approved:
			if len(bs) != 1 || bs[0].Name != controller.BindingName(r) {
				t.Errorf("%s: %d bindings, want exactly its own", name, len(bs))
			}
			if granted[name] < 1 || (!a.atLeastOnce && granted[name] != 1) {
				t.Errorf("%s: granted %d times in the audit trail", name, granted[name])
			}
		case autoShort:
			if len(bs) != 0 || r.Status.RevokedAt == nil {
				t.Errorf("%s: expired but %d bindings remain (revokedAt %v)", name, len(bs), r.Status.RevokedAt)
			}
			if granted[name] < 1 || (!a.atLeastOnce && granted[name] != 1) {
				t.Errorf("%s: granted %d times in the audit trail", name, granted[name])
			}
		default:
			if len(bs) != 0 || granted[name] != 0 {
				t.Errorf("%s (%s): %d bindings and %d grants without approval", name, wantReady[k], len(bs), granted[name])
			}
		}
	}
	for req, bs := range byRequest {
		t.Errorf("orphan: %d bindings for %q", len(bs), req)
	}
}

func mix(n int) map[string]kind {
	kinds := map[string]kind{}
	for i := range n {
		kinds[fmt.Sprintf("r-%03d", i)] = kind(i % 4)
	}
	return kinds
}

func TestRestartsAtRandomPointsLoseAndLeakNothing(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	m := start(t, options{})
	audits := []*utils.SyncBuffer{m.audit}
	kinds := mix(120)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for name, k := range kinds {
			w.create(t, name, k)
		}
	}()
	for range 3 {
		time.Sleep(time.Duration(300+rand.IntN(1500)) * time.Millisecond)
		m.Stop()
		m = start(t, options{})
		audits = append(audits, m.audit)
	}
	<-done
	defer m.Stop()
	w.verify(t, kinds, atLeastOnce, audits...)
}

func TestInjectedConflictsAndServerErrorsStillConverge(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	var injected atomic.Int32
	fail := func(obj client.Object) error {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() >= 0.2 || obj.GetNamespace() != w.ns {
			return nil
		}
		injected.Add(1)
		if rng.IntN(2) == 0 {
			return apierrors.NewConflict(schema.GroupResource{Resource: "injected"}, obj.GetName(), fmt.Errorf("injected"))
		}
		return apierrors.NewServiceUnavailable("injected")
	}
	funcs := &interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := fail(obj); err != nil {
				return err
			}
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if err := fail(obj); err != nil {
				return err
			}
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			if err := fail(obj); err != nil {
				return err
			}
			return c.Patch(ctx, obj, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if err := fail(obj); err != nil {
				return err
			}
			return c.Delete(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			if err := fail(obj); err != nil {
				return err
			}
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	}
	m := start(t, options{interceptor: funcs})
	defer m.Stop()
	kinds := mix(60)
	for name, k := range kinds {
		w.create(t, name, k)
	}
	w.verify(t, kinds, exactlyOnce, m.audit)
	if injected.Load() == 0 {
		t.Fatal("no fault was injected; the test proves nothing")
	}
	t.Logf("converged through %d injected conflicts and 503s", injected.Load())
}

func TestLeaderElectionHandsOverWithoutDoubleGrants(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	a, b := start(t, options{leader: true}), start(t, options{leader: true})
	defer func() { a.Stop(); b.Stop() }()
	first := map[string]kind{}
	for i := range 8 {
		name := fmt.Sprintf("before-%d", i)
		first[name] = approved
		w.create(t, name, approved)
	}
	w.verify(t, first, exactlyOnce, a.audit, b.audit)
	leader, follower := a, b
	if a.audit.String() == "" {
		leader, follower = b, a
	}
	if follower.audit.String() != "" {
		t.Fatalf("both managers acted:\n%s\n---\n%s", a.audit.String(), b.audit.String())
	}

	leader.Stop()
	took := time.Now()
	second := map[string]kind{}
	for i := range 8 {
		name := fmt.Sprintf("after-%d", i)
		second[name] = approved
		w.create(t, name, approved)
	}
	utils.Eventually(t, 30*time.Second, func() error {
		if !strings.Contains(follower.audit.String(), `"request":"after-7"`) {
			return fmt.Errorf("the follower has not taken over")
		}
		return nil
	})
	if d := time.Since(took); d > 3*time.Second+5*time.Second {
		t.Errorf("took over after %s, want within the 3s lease plus start-up", d)
	}
	all := map[string]kind{}
	for k, v := range first {
		all[k] = v
	}
	for k, v := range second {
		all[k] = v
	}
	w.verify(t, all, exactlyOnce, a.audit, b.audit)
}

func TestAClockJumpAndAnExpiryPastAtStartAreRevoked(t *testing.T) {
	utils.RequireEnvtest(t)
	w := newWorld(t)
	clk := clocktesting.NewFakeClock(time.Now())
	m := start(t, options{clock: clk})
	r := &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "jump", Namespace: w.ns},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "worker"},
			RoleRef:        accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: w.clusterRole},
			Duration:       metav1.Duration{Duration: time.Hour}, Justification: "clock",
			Requester: &accessv1alpha1.Requester{UserInfo: accessv1alpha1.UserInfo{Username: "dave"}},
		},
	}
	utils.Must(t, k8s.Create(t.Context(), r))
	second := r.DeepCopy()
	second.Name, second.ResourceVersion = "offline", ""
	utils.Must(t, k8s.Create(t.Context(), second))
	w.verify(t, map[string]kind{"jump": approved, "offline": approved}, exactlyOnce, m.audit)

	// The wall clock jumps two hours: the grant ends within the recheck
	// interval, not an hour later when its timer would fire.
	clk.Step(2 * time.Hour)
	jumped := time.Now()
	utils.Eventually(t, 10*time.Second, func() error { return noBindings(t, w, "jump") })
	t.Logf("revoked %s after the clock jumped", time.Since(jumped).Round(time.Millisecond))
	m.Stop()

	// A manager that starts after an expiry revokes at once.
	m = start(t, options{clock: clocktesting.NewFakeClock(time.Now().Add(3 * time.Hour))})
	defer m.Stop()
	utils.Eventually(t, 10*time.Second, func() error { return noBindings(t, w, "offline") })
}

func noBindings(t *testing.T, w *world, request string) error {
	var list rbacv1.RoleBindingList
	if err := k8s.List(t.Context(), &list, client.InNamespace(w.ns), client.MatchingLabels{accessv1alpha1.RequestLabel: request}); err != nil {
		return err
	}
	if len(list.Items) != 0 {
		return fmt.Errorf("%d bindings remain for %s", len(list.Items), request)
	}
	return nil
}
