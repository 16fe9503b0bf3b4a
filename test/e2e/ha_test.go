//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/controller"
	rgscheme "rolegate.dev/rolegate/internal/scheme"
	"rolegate.dev/rolegate/test/utils"
)

func init() {
	// The clients log nothing worth reading here.
	logf.SetLogger(logr.Discard())
}

const (
	deployment = "deployment/rolegate-controller-manager"
	// fleetSize grants expire together while the leader is killed.
	fleetSize = 200
	// fleetGrant is long enough for all of them to be approved first.
	fleetGrant = 40 * time.Second
	// killBefore is how long before the first expiry the leader dies.
	killBefore = 5 * time.Second
	// maxRevokeLag is the most any grant may outlive its expiry.
	maxRevokeLag = 5 * time.Second
)

// clients are the e2e's API clients: the admin's, and the requester's and
// the owner's (impersonated, bound only to the shipped requester role).
type clients struct {
	admin, dev, owner client.Client
}

func newClients(t *testing.T) *clients {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	utils.Must(t, err)
	cfg.QPS, cfg.Burst = 200, 400
	as := func(user, group string) client.Client {
		c := rest.CopyConfig(cfg)
		c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{group, "system:authenticated"}}
		cl, err := client.New(c, client.Options{Scheme: rgscheme.Scheme})
		utils.Must(t, err)
		return cl
	}
	admin, err := client.New(cfg, client.Options{Scheme: rgscheme.Scheme})
	utils.Must(t, err)
	return &clients{admin: admin, dev: as("dev", "e2e-devs"), owner: as("owner", "e2e-owners")}
}

func newRequest(name string, d time.Duration, tags map[string]string) *accessv1alpha1.AccessRequest {
	return &accessv1alpha1.AccessRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: appNS},
		Spec: accessv1alpha1.AccessRequestSpec{
			ServiceAccount: accessv1alpha1.ServiceAccountReference{Name: "worker"},
			RoleRef:        accessv1alpha1.RoleRef{Kind: accessv1alpha1.RoleKindClusterRole, Name: "view"},
			Duration:       metav1.Duration{Duration: d},
			Justification:  "e2e check",
			Tags:           tags,
		},
	}
}

func newDecision(request string) *accessv1alpha1.AccessDecision {
	return &accessv1alpha1.AccessDecision{
		ObjectMeta: metav1.ObjectMeta{Name: request + "-owner", Namespace: appNS},
		Spec:       accessv1alpha1.AccessDecisionSpec{Request: request, Decision: accessv1alpha1.DecisionApprove, Comment: "e2e"},
	}
}

// retryRefused calls create until it succeeds, for at most a minute (a
// replica that is being replaced may refuse a webhook call), and says how
// many calls were refused.
func retryRefused(create func() error) (refused int, err error) {
	deadline := time.Now().Add(time.Minute)
	for err = create(); err != nil && !apierrors.IsAlreadyExists(err); err = create() {
		refused++
		if time.Now().After(deadline) {
			return refused, fmt.Errorf("refused for a minute: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// AlreadyExists: an earlier call was admitted though its answer was lost.
	return refused, nil
}

// askAndApprove creates a request as the requester and approves it as the
// owner, and says how many creates admission refused on the way.
func (c *clients) askAndApprove(ctx context.Context, name string, d time.Duration) (int, error) {
	asked, err := retryRefused(func() error { return c.dev.Create(ctx, newRequest(name, d, nil)) })
	if err != nil {
		return asked, fmt.Errorf("%s: %w", name, err)
	}
	approved, err := retryRefused(func() error { return c.owner.Create(ctx, newDecision(name)) })
	if err != nil {
		err = fmt.Errorf("%s: %w", name, err)
	}
	return asked + approved, err
}

// parallel runs f(i) for i in [0, n) on workers goroutines and returns the
// errors joined.
func parallel(n, workers int, f func(i int) error) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

func readyReason(r *accessv1alpha1.AccessRequest) string {
	if c := meta.FindStatusCondition(r.Status.Conditions, accessv1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

// requestsByReason lists the requests of appNS whose name has prefix, by
// their Ready reason.
func (c *clients) requestsByReason(ctx context.Context, prefix string) (map[string][]accessv1alpha1.AccessRequest, error) {
	var list accessv1alpha1.AccessRequestList
	if err := c.admin.List(ctx, &list, client.InNamespace(appNS)); err != nil {
		return nil, err
	}
	out := map[string][]accessv1alpha1.AccessRequest{}
	for _, r := range list.Items {
		if strings.HasPrefix(r.Name, prefix) {
			out[readyReason(&r)] = append(out[readyReason(&r)], r)
		}
	}
	return out, nil
}

func (c *clients) managedBindings(ctx context.Context) ([]rbacv1.RoleBinding, error) {
	var list rbacv1.RoleBindingList
	err := c.admin.List(ctx, &list, client.InNamespace(appNS),
		client.MatchingLabels{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue})
	return list.Items, err
}

// leaderPod is the pod named by the leader election Lease, and the holder
// identity.
func leaderPod(t *testing.T) (pod, holder string) {
	t.Helper()
	holder = mustKubectl(t, nil, "-n", ns, "get", "lease/rolegate.access.rolegate.dev", "-o", "jsonpath={.spec.holderIdentity}")
	pod, _, _ = strings.Cut(holder, "_")
	if pod == "" {
		t.Fatalf("lease holder %q names no pod", holder)
	}
	return pod, holder
}

// sigkill kills the manager container of pod with SIGKILL through the node's
// containerd, as a crashed process or an OOM kill would: the Lease is not
// released.
func sigkill(t *testing.T, pod string) {
	t.Helper()
	id := mustKubectl(t, nil, "-n", ns, "get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].containerID}")
	_, id, ok := strings.Cut(id, "://")
	if !ok {
		t.Fatalf("pod %s has no running container (%q)", pod, id)
	}
	out, err := exec.Command("ctr", "--address", containerdAddress(t), "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", id).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr tasks kill %s: %v: %s", id, err, out)
	}
}

func containerdAddress(t *testing.T) string {
	t.Helper()
	a := os.Getenv("E2E_CONTAINERD_ADDRESS")
	if a == "" {
		t.Fatal("E2E_CONTAINERD_ADDRESS must be set: run `make cluster && make e2e`")
	}
	return a
}

// waitNewLeader waits until the Lease names another holder than old and
// returns when it did
// (zero when none did within two minutes). It may run on its own goroutine.
func waitNewLeader(t *testing.T, old string) time.Time {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		h, err := kubectl(t, nil, "-n", ns, "get", "lease/rolegate.access.rolegate.dev", "-o", "jsonpath={.spec.holderIdentity}")
		if err == nil && h != old && h != "" {
			return time.Now()
		}
	}
	return time.Time{}
}

func waitRollout(t *testing.T) {
	t.Helper()
	poll(t, 3*time.Minute, "manager rollout", func() error {
		_, err := kubectl(t, nil, "-n", ns, "rollout", "status", deployment, "--timeout=2s")
		return err
	})
}

// leaderLoss grants fleetSize requests that expire within a few seconds of
// each other, SIGKILLs the leader's container killBefore the first expiry,
// and checks that every grant is revoked within maxRevokeLag of its expiry
// (the standby's expiry revoker does it while the lease of the dead leader
// runs out) and that the new leader records every request as Expired.
func leaderLoss(t *testing.T, c *clients, f *figures) {
	ctx := t.Context()
	// Ask first, then approve in one burst: a grant's clock starts at its
	// approval, so the expiries are as close together as the approvals.
	utils.Must(t, parallel(fleetSize, 16, func(i int) error {
		_, err := retryRefused(func() error { return c.dev.Create(ctx, newRequest(fmt.Sprintf("fleet-%03d", i), fleetGrant, nil)) })
		return err
	}))
	utils.Must(t, parallel(fleetSize, 32, func(i int) error {
		_, err := retryRefused(func() error { return c.owner.Create(ctx, newDecision(fmt.Sprintf("fleet-%03d", i))) })
		return err
	}))
	var expiries map[string]time.Time
	poll(t, time.Minute, "every fleet request granted", func() error {
		var err error
		expiries, err = fleetExpiries(ctx, c)
		return err
	})
	first := slices.MinFunc(mapsValues(expiries), func(a, b time.Time) int { return a.Compare(b) })
	last := slices.MaxFunc(mapsValues(expiries), func(a, b time.Time) int { return a.Compare(b) })
	f.fleetSpread = last.Sub(first)
	if wait := time.Until(first.Add(-killBefore)); wait > 0 {
		time.Sleep(wait)
	} else {
		t.Fatalf("granting %d requests took too long: the first expires in %s, less than %s", fleetSize, time.Until(first), killBefore)
	}
	pod, holder := leaderPod(t)
	killed := time.Now()
	sigkill(t, pod)
	takeover := make(chan time.Time, 1)
	go func() { takeover <- waitNewLeader(t, holder) }()
	gone := watchRevocations(t, c, expiries, last.Add(time.Minute))
	at := <-takeover
	if at.IsZero() {
		t.Fatalf("no replica took the lease over from %s within two minutes", holder)
	}
	f.takeover = at.Sub(killed)
	for _, exp := range expiries {
		if exp.Before(at) {
			f.fleetLeaderless++
		}
	}
	if f.fleetLeaderless == 0 {
		t.Errorf("no grant expired before the new leader took over at %s: the leader loss tested nothing", at)
	}
	for name, at := range gone {
		f.fleetWorstLag = max(f.fleetWorstLag, at.Sub(expiries[name]))
	}
	if f.fleetWorstLag > maxRevokeLag {
		t.Errorf("the worst grant outlived its expiry by %s, more than %s", f.fleetWorstLag, maxRevokeLag)
	}
	poll(t, 2*time.Minute, "every fleet request Expired", func() error {
		by, err := c.requestsByReason(ctx, "fleet-")
		if err != nil {
			return err
		}
		if n := len(by[accessv1alpha1.ReasonExpired]); n != fleetSize {
			return fmt.Errorf("%d of %d Expired", n, fleetSize)
		}
		return nil
	})
	// The new leader's revoker stopped once its controller took over: one
	// revocation mechanism per replica.
	leader, _ := leaderPod(t)
	poll(t, time.Minute, "the new leader's expiry revoker handed over", func() error {
		logs, err := kubectl(t, nil, "-n", ns, "logs", leader)
		if err != nil {
			return err
		}
		if !strings.Contains(logs, controller.HandoffMessage) {
			return fmt.Errorf("pod %s has not logged %q", leader, controller.HandoffMessage)
		}
		return nil
	})
	waitRollout(t)
}

func mapsValues(m map[string]time.Time) []time.Time {
	out := make([]time.Time, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// fleetExpiries maps each fleet binding's name to its expiry, once every
// fleet request is Granted.
func fleetExpiries(ctx context.Context, c *clients) (map[string]time.Time, error) {
	by, err := c.requestsByReason(ctx, "fleet-")
	if err != nil {
		return nil, err
	}
	granted := by[accessv1alpha1.ReasonGranted]
	if len(granted) != fleetSize {
		return nil, fmt.Errorf("%d of %d granted", len(granted), fleetSize)
	}
	out := map[string]time.Time{}
	for _, r := range granted {
		if r.Status.ExpiresAt == nil || r.Status.RoleBinding == "" {
			return nil, fmt.Errorf("%s is granted without expiresAt or binding", r.Name)
		}
		out[r.Status.RoleBinding] = r.Status.ExpiresAt.Time
	}
	return out, nil
}

// watchRevocations polls the managed bindings until none of the given ones
// is left, and returns when each was first seen gone.
func watchRevocations(t *testing.T, c *clients, expiries map[string]time.Time, deadline time.Time) map[string]time.Time {
	gone := map[string]time.Time{}
	for len(gone) < len(expiries) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d fleet bindings were never revoked", len(expiries)-len(gone), len(expiries))
		}
		bindings, err := c.managedBindings(t.Context())
		if err != nil {
			t.Logf("listing bindings: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		now := time.Now()
		present := map[string]bool{}
		for _, rb := range bindings {
			present[rb.Name] = true
		}
		for name, exp := range expiries {
			if _, done := gone[name]; !done && !present[name] {
				if now.Before(exp) {
					t.Errorf("binding %s was removed before its expiry %s", name, exp)
				}
				gone[name] = now
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return gone
}

// outage scales the manager to zero and checks what docs/operations.md
// promises: requests (break-glass included) and decisions are refused,
// ApprovalPolicies are admitted unvalidated; then it scales back.
func outage(t *testing.T, c *clients) {
	ctx := t.Context()
	mustKubectl(t, nil, "-n", ns, "scale", deployment, "--replicas=0")
	poll(t, 2*time.Minute, "every replica gone", func() error {
		out, err := kubectl(t, nil, "-n", ns, "get", "pods", "-o", "name")
		if err != nil || out != "" {
			return fmt.Errorf("pods left: %q %v", out, err)
		}
		return nil
	})
	refused := func(what string, err error) {
		if err == nil {
			t.Errorf("%s was admitted with every replica down; the webhooks must fail closed", what)
		} else if !strings.Contains(err.Error(), "webhook") {
			t.Errorf("%s refused for another reason than the webhook: %v", what, err)
		}
	}
	refused("an AccessRequest", c.dev.Create(ctx, newRequest("outage", time.Hour, nil)))
	refused("a break-glass AccessRequest", c.dev.Create(ctx, newRequest("outage-bg", time.Hour,
		map[string]string{"type": accessv1alpha1.BreakGlassTagValue})))
	refused("an AccessDecision", c.owner.Create(ctx, newDecision("e2e-1")))
	p := &accessv1alpha1.ApprovalPolicy{}
	utils.Must(t, c.admin.Get(ctx, client.ObjectKey{Name: "e2e"}, p))
	p.Annotations = map[string]string{"e2e/outage": "edited"}
	if err := c.admin.Update(ctx, p); err != nil {
		t.Errorf("an ApprovalPolicy edit was refused during the outage (its webhook should fail open): %v", err)
	}
	mustKubectl(t, nil, "-n", ns, "scale", deployment, "--replicas=2")
	waitRollout(t)
}

// rollingUpgrade rolls the Deployment to the same binary under a new tag
// while requests are being approved, and checks that every approval led to
// exactly one binding and that no binding is orphaned.
func rollingUpgrade(t *testing.T, c *clients, f *figures) {
	ctx := t.Context()
	repo, tag := image(t)
	next := repo + ":" + tag + "-next"
	full := func(ref string) string {
		if strings.Count(ref, "/") == 1 && !strings.Contains(strings.Split(ref, "/")[0], ".") {
			return "docker.io/" + ref
		}
		return ref
	}
	out, err := exec.Command("ctr", "--address", containerdAddress(t), "-n", "k8s.io", "images", "tag", "--force",
		full(repo+":"+tag), full(next)).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr images tag: %v: %s", err, out)
	}
	const n = 40
	done := make(chan error, 1)
	var refused atomic.Int32
	go func() {
		done <- parallel(n, 2, func(i int) error {
			r, err := c.askAndApprove(ctx, fmt.Sprintf("roll-%02d", i), time.Hour)
			refused.Add(int32(r))
			time.Sleep(300 * time.Millisecond)
			return err
		})
	}()
	time.Sleep(time.Second)
	mustKubectl(t, nil, "-n", ns, "set", "image", deployment, "*="+next)
	waitRollout(t)
	utils.Must(t, <-done)
	var problems []string
	poll(t, time.Minute, "every approved roll request granted once", func() error {
		var err error
		problems, err = rollProblems(ctx, c, n)
		if err == nil && len(problems) > 0 {
			err = errors.New(strings.Join(problems, "; "))
		}
		return err
	})
	f.upgrade = fmt.Sprintf("%d/%d granted, 1 binding each, %d refused creates retried", n, n, refused.Load())
}

// rollProblems names every roll request that is not Granted with exactly
// one binding, and every managed binding whose request is gone.
func rollProblems(ctx context.Context, c *clients, n int) ([]string, error) {
	by, err := c.requestsByReason(ctx, "roll-")
	if err != nil {
		return nil, err
	}
	bindings, err := c.managedBindings(ctx)
	if err != nil {
		return nil, err
	}
	var problems []string
	if g := len(by[accessv1alpha1.ReasonGranted]); g != n {
		problems = append(problems, fmt.Sprintf("%d of %d granted", g, n))
	}
	perRequest := map[string]int{}
	var all accessv1alpha1.AccessRequestList
	if err := c.admin.List(ctx, &all, client.InNamespace(appNS)); err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, r := range all.Items {
		live[string(r.UID)] = true
	}
	for _, rb := range bindings {
		ref := metav1.GetControllerOfNoCopy(&rb)
		if ref == nil || !live[string(ref.UID)] {
			problems = append(problems, "orphaned binding "+rb.Name)
			continue
		}
		perRequest[ref.Name]++
	}
	for _, r := range by[accessv1alpha1.ReasonGranted] {
		if perRequest[r.Name] != 1 {
			problems = append(problems, fmt.Sprintf("%s has %d bindings", r.Name, perRequest[r.Name]))
		}
	}
	return problems, nil
}
