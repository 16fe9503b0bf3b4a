//go:build e2e

// Package e2e installs rolegate for real on the single-node cluster of
// `make cluster` — once with config/default through kustomize, once with the
// Helm chart — and drives it through real pods: the manager replicas become
// Ready, the webhooks are served through the Service, a requester bound only
// to the shipped requester role asks, an owner approves, the granted
// ServiceAccount can act until the grant expires and not after, the leader's
// loss is taken over, and the documented uninstall leaves nothing behind.
//
//	make cluster && make e2e
//
// It needs KUBECONFIG (the cluster's admin) and E2E_IMAGE (the image `make
// image` loaded into the node's containerd); make e2e sets both.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"

	"rolegate.dev/rolegate/test/utils"
)

const (
	ns       = "rolegate-system"
	appNS    = "e2e-app"
	grantFor = 20 * time.Second
)

// figures collects the numbers the run prints at the end.
type figures struct {
	install, ready, granted, revoked, takeover time.Duration
	// fleetSpread is how far apart the leader-loss grants expire, and
	// fleetWorstLag the latest revocation after an expiry among them.
	fleetSpread, fleetWorstLag time.Duration
	// fleetLeaderless counts the grants that expired before a new leader
	// held the lease: only the replicas' expiry revokers could end them.
	fleetLeaderless int
	// upgrade is the rolling upgrade's result.
	upgrade string
}

func kubectl(t testing.TB, stdin []byte, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("kubectl", args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String()), nil
}

func mustKubectl(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	out, err := kubectl(t, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// poll calls f every 200 ms until it returns nil or timeout passes.
func poll(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func image(t testing.TB) (repo, tag string) {
	t.Helper()
	img := os.Getenv("E2E_IMAGE")
	if img == "" || os.Getenv("KUBECONFIG") == "" {
		t.Fatal("E2E_IMAGE and KUBECONFIG must be set: run `make cluster && make e2e`")
	}
	i := strings.LastIndex(img, ":")
	if i < 0 {
		t.Fatalf("E2E_IMAGE %q has no tag", img)
	}
	return img[:i], img[i+1:]
}

// kustomizeManifests renders config/default with the e2e image through a
// throw-away overlay in bin/ (kustomize needs relative paths).
func kustomizeManifests(t *testing.T) []byte {
	root, err := utils.RepoRoot()
	utils.Must(t, err)
	repo, tag := image(t)
	dir := filepath.Join(root, "bin", "e2e", "kustomize")
	utils.Must(t, os.MkdirAll(dir, 0o755))
	utils.Must(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), fmt.Appendf(nil, `resources:
- ../../../config/default
images:
- name: controller
  newName: %s
  newTag: %q
`, repo, tag), 0o644))
	return []byte(mustKubectl(t, nil, "kustomize", dir))
}

// helmManifests renders dist/chart as `helm template rolegate dist/chart -n
// rolegate-system --include-crds` would, with the e2e image.
func helmManifests(t *testing.T) (crds, rest []byte) {
	root, err := utils.RepoRoot()
	utils.Must(t, err)
	repo, tag := image(t)
	ch, err := loader.Load(filepath.Join(root, "dist", "chart"))
	utils.Must(t, err)
	values := map[string]any{"image": map[string]any{"repository": repo, "tag": tag, "pullPolicy": "Never"}}
	top, err := chartutil.ToRenderValues(ch, values,
		common.ReleaseOptions{Name: "rolegate", Namespace: ns, Revision: 1, IsInstall: true}, common.DefaultCapabilities)
	utils.Must(t, err)
	out, err := engine.Engine{Strict: true}.Render(ch, top)
	utils.Must(t, err)
	var b bytes.Buffer
	for _, f := range slices.Sorted(maps.Keys(out)) {
		if strings.HasSuffix(f, "NOTES.txt") || strings.TrimSpace(out[f]) == "" {
			continue
		}
		b.WriteString("---\n" + out[f] + "\n")
	}
	var c bytes.Buffer
	for _, f := range ch.CRDObjects() {
		c.WriteString("---\n" + string(f.File.Data) + "\n")
	}
	return c.Bytes(), b.Bytes()
}

func TestKustomize(t *testing.T) {
	manifests := kustomizeManifests(t)
	f := &figures{}
	start := time.Now()
	mustKubectl(t, manifests, "apply", "--server-side", "-f", "-")
	f.install = time.Since(start)
	run(t, f, func() {
		mustKubectl(t, manifests, "delete", "--ignore-not-found", "--wait", "-f", "-")
	})
	report(t, "kustomize", f)
}

func TestHelm(t *testing.T) {
	crds, manifests := helmManifests(t)
	f := &figures{}
	start := time.Now()
	ensureNamespace(t)
	mustKubectl(t, crds, "apply", "--server-side", "-f", "-")
	poll(t, time.Minute, "CRDs established", func() error {
		_, err := kubectl(t, nil, "wait", "--for=condition=Established", "--timeout=1s", "crd", "accessrequests.access.rolegate.dev",
			"accessdecisions.access.rolegate.dev", "approvalpolicies.access.rolegate.dev")
		return err
	})
	mustKubectl(t, manifests, "apply", "--server-side", "-f", "-")
	f.install = time.Since(start)
	run(t, f, func() {
		// helm uninstall, then the CRDs that helm leaves (crds/ is never deleted by helm).
		mustKubectl(t, manifests, "delete", "--ignore-not-found", "--wait", "-f", "-")
		mustKubectl(t, crds, "delete", "--ignore-not-found", "--wait", "-f", "-")
		mustKubectl(t, nil, "delete", "namespace", ns, "--ignore-not-found", "--wait")
	})
	report(t, "helm", f)
}

// ensureNamespace creates the release namespace as `helm install
// --create-namespace` would, under the restricted Pod Security Standard.
func ensureNamespace(t *testing.T) {
	mustKubectl(t, []byte(`apiVersion: v1
kind: Namespace
metadata:
  name: `+ns+`
  labels:
    pod-security.kubernetes.io/enforce: restricted
`), "apply", "--server-side", "-f", "-")
}

// run checks an installed rolegate, then uninstalls it in the documented
// order (docs/operations.md#uninstalling) and checks that nothing is left.
func run(t *testing.T, f *figures, uninstall func()) {
	start := time.Now()
	poll(t, 3*time.Minute, "manager rollout", func() error {
		_, err := kubectl(t, nil, "-n", ns, "rollout", "status", "deployment/rolegate-controller-manager", "--timeout=2s")
		return err
	})
	f.ready = time.Since(start)
	ready := mustKubectl(t, nil, "-n", ns, "get", "deployment/rolegate-controller-manager", "-o", "jsonpath={.status.readyReplicas}")
	if ready != "2" {
		t.Errorf("ready replicas = %q, want 2 (the default)", ready)
	}
	setupApp(t)
	grantAndExpire(t, f)
	scrapeMetrics(t)
	c := newClients(t)
	leaderLoss(t, c, f)
	// The restarted replica and the new leader serve: a second request is granted.
	grantAndExpire(t, &figures{})
	rollingUpgrade(t, c, f)
	outage(t, c)

	// Uninstall: requests first, while the manager runs (their finalizers
	// remove the bindings), then the install.
	mustKubectl(t, nil, "delete", "accessrequests.access.rolegate.dev", "-A", "--all", "--wait")
	mustKubectl(t, nil, "delete", "namespace", appNS, "--wait")
	mustKubectl(t, nil, "delete", "approvalpolicies.access.rolegate.dev", "--all", "--wait")
	uninstall()
	checkNothingLeft(t)
}

func setupApp(t *testing.T) {
	mustKubectl(t, []byte(`apiVersion: v1
kind: Namespace
metadata:
  name: `+appNS+`
  labels: {team: e2e}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: worker, namespace: `+appNS+`}
---
# The requester and the owner hold only the shipped requester role.
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: e2e-requesters, namespace: `+appNS+`}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: rolegate-requester}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: e2e-devs}
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: e2e-owners}
---
apiVersion: access.rolegate.dev/v1alpha1
kind: ApprovalPolicy
metadata: {name: e2e}
spec:
  namespaceSelector: {matchLabels: {team: e2e}}
  requesters: [{kind: Group, name: e2e-devs}]
  entitlements:
  - roleRef: {kind: ClusterRole, name: view}
    maxDuration: 1h
  approvers:
  - name: owners
    subjects: [{kind: Group, name: e2e-owners}]
    requiredApprovals: 1
`), "apply", "--server-side", "-f", "-")
}

var seq int

// grantAndExpire: a requester asks, an owner approves, the ServiceAccount
// can list pods until the grant expires and not after.
func grantAndExpire(t *testing.T, f *figures) {
	seq++
	name := fmt.Sprintf("e2e-%d", seq)
	sa := "system:serviceaccount:" + appNS + ":worker"
	canList := func() bool {
		out, _ := kubectl(t, nil, "auth", "can-i", "list", "pods", "-n", appNS, "--as", sa)
		return out == "yes"
	}
	if canList() {
		t.Fatalf("%s can list pods before any grant", sa)
	}
	// The webhooks run through the Service: a create as the requester is
	// admitted only if the mutating and validating webhooks answer.
	poll(t, time.Minute, "request admitted through the webhooks", func() error {
		_, err := kubectl(t, []byte(fmt.Sprintf(`apiVersion: access.rolegate.dev/v1alpha1
kind: AccessRequest
metadata: {name: %s, namespace: %s}
spec:
  serviceAccount: {name: worker}
  roleRef: {kind: ClusterRole, name: view}
  duration: %s
  justification: e2e check
`, name, appNS, grantFor)), "create", "--as", "dev", "--as-group", "e2e-devs", "-f", "-")
		return err
	})
	requester := mustKubectl(t, nil, "-n", appNS, "get", "accessrequest", name, "-o", "jsonpath={.spec.requester.username}")
	if requester != "dev" {
		t.Errorf("the webhook recorded requester %q, want the impersonated user dev", requester)
	}
	approved := time.Now()
	mustKubectl(t, []byte(fmt.Sprintf(`apiVersion: access.rolegate.dev/v1alpha1
kind: AccessDecision
metadata: {name: %s-owner, namespace: %s}
spec: {request: %s, decision: Approve, comment: e2e}
`, name, appNS, name)), "create", "--as", "owner", "--as-group", "e2e-owners", "-f", "-")
	poll(t, time.Minute, name+" granted", func() error {
		if !canList() {
			return fmt.Errorf("%s cannot list pods yet", sa)
		}
		return nil
	})
	if f.granted == 0 {
		f.granted = time.Since(approved)
	}
	exp := mustKubectl(t, nil, "-n", appNS, "get", "accessrequest", name, "-o", "jsonpath={.status.expiresAt}")
	expiresAt, err := time.Parse(time.RFC3339, exp)
	if err != nil {
		t.Fatalf("%s status.expiresAt %q: %v", name, exp, err)
	}
	poll(t, grantFor+time.Minute, name+" revoked", func() error {
		if canList() {
			return fmt.Errorf("%s can still list pods", sa)
		}
		return nil
	})
	if lag := time.Since(expiresAt); f.revoked == 0 {
		f.revoked = lag
	}
	if time.Now().Before(expiresAt) {
		t.Errorf("%s lost access before its expiresAt %s", sa, expiresAt)
	}
}

func checkNothingLeft(t *testing.T) {
	for _, q := range [][]string{
		{"get", "crd", "-o", "name"},
		{"get", "mutatingwebhookconfigurations,validatingwebhookconfigurations", "-o", "name"},
		{"get", "clusterroles,clusterrolebindings", "-o", "name"},
		{"get", "rolebindings", "-A", "-l", "app.kubernetes.io/managed-by=rolegate", "-o", "name"},
		{"get", "namespaces", "-o", "name"},
	} {
		out := mustKubectl(t, nil, q...)
		for line := range strings.SplitSeq(out, "\n") {
			if strings.Contains(line, "rolegate") || strings.Contains(line, appNS) {
				t.Errorf("left after uninstall: %s", line)
			}
		}
	}
}

func report(t *testing.T, how string, f *figures) {
	rows := [][2]string{
		{"install via", how},
		{"install time (kubectl apply)", f.install.Round(time.Millisecond).String()},
		{"manager Ready (2 replicas)", f.ready.Round(time.Millisecond).String()},
		{"request→granted (approve→can-i yes)", f.granted.Round(time.Millisecond).String()},
		{"expiry→revoked (can-i no)", f.revoked.Round(time.Millisecond).String()},
		{fmt.Sprintf("leader SIGKILLed: %d grants expiring within", fleetSize), f.fleetSpread.Round(time.Millisecond).String()},
		{"  of which expired with no leader", fmt.Sprint(f.fleetLeaderless)},
		{"  worst expiry→revoked lag among them", f.fleetWorstLag.Round(time.Millisecond).String()},
		{"  leader takeover (SIGKILL→new lease holder)", f.takeover.Round(time.Millisecond).String()},
		{"rolling upgrade while approving", f.upgrade},
	}
	var b bytes.Buffer
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %-44s | %s\n", r[0], r[1])
	}
	t.Log(b.String())
	j, _ := json.Marshal(map[string]any{"via": how, "install_s": f.install.Seconds(), "ready_s": f.ready.Seconds(),
		"granted_s": f.granted.Seconds(), "revoked_lag_s": f.revoked.Seconds(), "takeover_s": f.takeover.Seconds(),
		"fleet": fleetSize, "fleet_spread_s": f.fleetSpread.Seconds(), "fleet_worst_lag_s": f.fleetWorstLag.Seconds(), "fleet_leaderless": f.fleetLeaderless,
		"upgrade": f.upgrade})
	t.Log(string(j))
}
