// Package argocd_test checks rolegate's Argo CD resource health checks
// (config/argocd) the way Argo CD runs them: each health.lua gets the live
// object as the Lua table obj and returns a table with status and message.
package argocd_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite config/argocd/argocd-cm-patch.yaml from the health.lua files")

const (
	group      = "access.rolegate.dev"
	configDir  = "../../config/argocd"
	patchFile  = configDir + "/argocd-cm-patch.yaml"
	statusProg = "Progressing"
)

var kinds = []string{"AccessDecision", "AccessRequest", "ApprovalPolicy"}

// scriptPath is where a kind's health check lives, in the layout of Argo
// CD's resource_customizations directory.
func scriptPath(kind string) string {
	return filepath.Join(configDir, group, kind, "health.lua")
}

// configMapKey is the argocd-cm key that registers a kind's health check.
func configMapKey(kind string) string {
	return "resource.customizations.health." + group + "_" + kind
}

func readScript(t *testing.T, kind string) string {
	t.Helper()
	b, err := os.ReadFile(scriptPath(kind))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// health is what a health.lua returned.
type health struct {
	Status  string
	Message string
}

func (h health) String() string { return fmt.Sprintf("%s (%q)", h.Status, h.Message) }

// validStatuses are the health codes Argo CD accepts from a Lua script; it
// turns anything else into Unknown.
var validStatuses = []string{"Healthy", "Progressing", "Suspended", "Degraded", "Missing", "Unknown"}

// runHealth runs a health script as Argo CD runs one from argocd-cm: without
// Lua's standard libraries apart from base, package and table, with a
// one-second budget, and the object converted to nested Lua tables under
// the global obj.
func runHealth(t *testing.T, script string, obj map[string]any) health {
	t.Helper()
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		t.Fatalf("health.lua failed: %v", err)
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health.lua returned %s, want a table", l.Get(-1).Type())
	}
	var h health
	var unexpected []string
	ret.ForEach(func(k, v lua.LValue) {
		switch k.String() {
		case "status":
			h.Status = v.String()
		case "message":
			h.Message = v.String()
		default:
			unexpected = append(unexpected, k.String())
		}
	})
	if len(unexpected) > 0 {
		t.Errorf("health.lua returned unexpected keys %v", unexpected)
	}
	if !slices.Contains(validStatuses, h.Status) {
		t.Errorf("health.lua returned status %q, which Argo CD reports as Unknown", h.Status)
	}
	return h
}

// toLua converts a decoded Kubernetes object to Lua values the way Argo CD
// does (util/lua decodeValue): maps and slices become tables, integers and
// floats numbers, and anything else nil.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(toLua(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), toLua(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// loadObject reads a YAML manifest into the form Argo CD holds live objects
// in: unstructured, with integers as int64.
func loadObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return u
}

func fixturePath(kind, name string) string {
	return filepath.Join("testdata", kind, name+".yaml")
}

// healthCase is one fixture and the health Argo CD must show for it.
type healthCase struct {
	spec    string // what the case shows, as a sentence
	fixture string // testdata/<kind>/<fixture>.yaml
	want    health
}

var requestCases = []healthCase{
	{"a request waiting for approval is suspended and says who decides", "pending", health{"Suspended",
		"PendingApproval: waiting for 1 of 1 approvals from tier security (Group security-oncall) or a later tier"}},
	{"a granted request is healthy and names its RoleBinding and expiry", "granted", health{"Healthy",
		"Granted: RoleBinding rolegate-ledger-migrate-4711-104fa binds Role/db-migrator to ServiceAccount " +
			"payments/ledger-migrator until 2026-11-29T03:05:00Z"}},
	{"an expired request is healthy: access ended as planned", "expired", health{"Healthy",
		"Expired: access expired at 2026-11-29T03:05:00Z"}},
	{"a request revoked by a reviewer is healthy: access ended as asked", "revoked", health{"Healthy",
		"Revoked: revoked by carol: CHG-1234 done early"}},
	{"a request whose grant a policy change ended is healthy: access ended as the policy requires", "policy-changed",
		health{"Healthy", "Revoked: the policy no longer allows this grant: spec.roleRef: no policy allows Role db-migrator " +
			"in namespace payments; roles that can be requested here: ClusterRole/view (ApprovalPolicy \"payments\")"}},
	{"a denied request is degraded and quotes the reviewer", "denied", health{"Degraded",
		"Denied: denied by carol for tier security: use the read-only replica"}},
	{"a request that timed out is degraded", "timed-out", health{"Degraded",
		"TimedOut: no decision within the pendingTimeout of ApprovalPolicy \"payments\""}},
	{"an invalid request is degraded and names the field at fault", "invalid", health{"Degraded",
		"Invalid: spec.roleRef: Role/db-migrator does not exist in namespace payments; " +
			"ask its owner to create it, or request another role from the catalog"}},
	{"an approved request blocked by a foreign RoleBinding is degraded", "binding-conflict", health{"Degraded",
		"BindingConflict: a RoleBinding named rolegate-ledger-migrate-4711-104fa exists and is not controlled by " +
			"this request; delete it or re-create the request under another name"}},
	{"a request rolegate failed to act on is degraded and says what failed, though its generation is not yet observed",
		"binding-failed", health{"Degraded", "BindingFailed: creating RoleBinding rolegate-ledger-migrate-4711-104fa: " +
			"admission webhook \"rolebindings.example.com\" denied the request: change freeze; retrying with backoff"}},
	{"a request whose latest generation rolegate has not seen is progressing", "stale-generation", health{statusProg,
		"Waiting for rolegate to process the request"}},
	{"a request without status is progressing", "no-status", health{statusProg,
		"Waiting for rolegate to process the request"}},
	{"a request whose Ready condition is missing is progressing", "no-ready-condition", health{statusProg,
		"Waiting for rolegate to process the request"}},
}

var decisionCases = []healthCase{
	{"a counted decision is healthy", "counted", health{"Healthy",
		"Counted: approval counted for tier security"}},
	{"a decision that did not count is degraded and says why", "not-counted", health{"Degraded",
		"NotEligible: alice is not in the deciding tier or a later one; tier security decides: " +
			"ask one of Group security-oncall"}},
	{"a decision without status is progressing", "no-status", health{statusProg,
		"Waiting for rolegate to process the decision"}},
}

var policyCases = []healthCase{
	{"a usable policy is healthy and summarises its catalog", "ready", health{"Healthy",
		"Ready: 2 entitlements available in 1 namespace (payments); approver tiers: app-owners > security"}},
	{"a policy whose catalog names a missing role is degraded", "not-ready", health{"Degraded",
		"RoleNotFound: spec.entitlements: Role/db-migrator does not exist in any governed namespace; " +
			"create the roles or remove them from the catalog"}},
	{"a policy whose latest generation rolegate has not checked is progressing", "stale", health{statusProg,
		"Waiting for rolegate to check the policy"}},
	{"a policy without status is progressing", "no-status", health{statusProg,
		"Waiting for rolegate to check the policy"}},
}

func runCases(t *testing.T, kind string, cases []healthCase) {
	script := readScript(t, kind)
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			u := loadObject(t, fixturePath(kind, tc.fixture))
			if u.GetKind() != kind || u.GroupVersionKind().Group != group {
				t.Fatalf("fixture %s is a %s, want %s/%s", tc.fixture, u.GroupVersionKind(), group, kind)
			}
			if got := runHealth(t, script, u.Object); got != tc.want {
				t.Errorf("health of %s = %s\nwant %s", fixturePath(kind, tc.fixture), got, tc.want)
			}
		})
	}
}

func TestAccessRequestHealth(t *testing.T)  { runCases(t, "AccessRequest", requestCases) }
func TestAccessDecisionHealth(t *testing.T) { runCases(t, "AccessDecision", decisionCases) }
func TestApprovalPolicyHealth(t *testing.T) { runCases(t, "ApprovalPolicy", policyCases) }

// TestEveryFixtureHasAnExpectedHealth keeps the tables and testdata in step.
func TestEveryFixtureHasAnExpectedHealth(t *testing.T) {
	tables := map[string][]healthCase{"AccessRequest": requestCases, "AccessDecision": decisionCases, "ApprovalPolicy": policyCases}
	for kind, cases := range tables {
		files, err := filepath.Glob(filepath.Join("testdata", kind, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var onDisk, inTable []string
		for _, f := range files {
			onDisk = append(onDisk, strings.TrimSuffix(filepath.Base(f), ".yaml"))
		}
		for _, tc := range cases {
			inTable = append(inTable, tc.fixture)
		}
		slices.Sort(onDisk)
		slices.Sort(inTable)
		if !slices.Equal(onDisk, inTable) {
			t.Errorf("%s: fixtures on disk %v, in the table %v", kind, onDisk, inTable)
		}
	}
}

// TestUnknownReadyReasonsFallBackOnStalledAndStatus covers reasons a newer
// rolegate might add: the script still gives a sensible health.
func TestUnknownReadyReasonsFallBackOnStalledAndStatus(t *testing.T) {
	script := readScript(t, "AccessRequest")
	obj := func(conds ...map[string]any) map[string]any {
		list := make([]any, 0, len(conds))
		for _, c := range conds {
			list = append(list, c)
		}
		return map[string]any{
			"metadata": map[string]any{"name": "r", "generation": int64(2)},
			"status":   map[string]any{"observedGeneration": int64(2), "conditions": list},
		}
	}
	cond := func(typ, status, reason string) map[string]any {
		return map[string]any{"type": typ, "status": status, "reason": reason, "message": "m", "observedGeneration": int64(2)}
	}
	cases := []struct {
		spec string
		obj  map[string]any
		want health
	}{
		{"an unknown reason with Stalled=True is degraded",
			obj(cond("Ready", "True", "Quarantined"), cond("Stalled", "True", "Quarantined")), health{"Degraded", "Quarantined: m"}},
		{"an unknown reason with Ready=False is degraded", obj(cond("Ready", "False", "Quarantined")), health{"Degraded", "Quarantined: m"}},
		{"an unknown reason with Ready=True is healthy", obj(cond("Ready", "True", "Reconfigured")), health{"Healthy", "Reconfigured: m"}},
		{"an applied extension is healthy", obj(cond("Ready", "True", "Extended")), health{"Healthy", "Extended: m"}},
		{"an approved request waiting for its start time is suspended",
			obj(cond("Ready", "False", "Scheduled")), health{"Suspended", "Scheduled: m"}},
		{"an unknown reason with Ready=Unknown is progressing", obj(cond("Ready", "Unknown", "Checking")), health{statusProg, "Checking: m"}},
		{"a Ready condition stamped with an older generation is progressing",
			obj(map[string]any{"type": "Ready", "status": "True", "reason": "Granted", "observedGeneration": int64(1)}),
			health{statusProg, "Waiting for rolegate to process the request"}},
		{"a pending request without an Approved condition quotes Ready",
			obj(cond("Ready", "False", "PendingApproval")), health{"Suspended", "PendingApproval: m"}},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			if got := runHealth(t, script, tc.obj); got != tc.want {
				t.Errorf("health = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestScriptsNeedNoStandardLibraryBeyondBase runs every script on the
// barest object Argo CD could pass; runHealth opens only what argocd-cm
// scripts get, so a script calling string.* or os.* fails here.
func TestScriptsNeedNoStandardLibraryBeyondBase(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			got := runHealth(t, readScript(t, kind), map[string]any{"metadata": map[string]any{"name": "x"}})
			if got.Status != statusProg {
				t.Errorf("health of an object without status = %s, want Progressing", got)
			}
		})
	}
}

// renderConfigMap is argocd-cm-patch.yaml as generated from the scripts.
func renderConfigMap(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`# Registers rolegate's Argo CD health checks (see docs/gitops.md).
#
# Generated from config/argocd/access.rolegate.dev/<Kind>/health.lua; do not
# edit by hand. Change the .lua file, then run
#   go test ./test/argocd/ -run TestConfigMapPatchEmbedsTheHealthScripts -update
#
# Apply it to a running Argo CD with
#   kubectl -n argocd patch configmap argocd-cm --type merge \
#     --patch-file config/argocd/argocd-cm-patch.yaml
# or list it under "patches" in the kustomization that installs Argo CD.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
`)
	for _, kind := range kinds {
		script := readScript(t, kind)
		if !strings.HasSuffix(script, "\n") || strings.HasSuffix(script, "\n\n") {
			t.Fatalf("%s must end with exactly one newline to embed as a YAML literal block", scriptPath(kind))
		}
		b.WriteString("  " + configMapKey(kind) + ": |\n")
		for _, line := range strings.SplitAfter(script, "\n") {
			if line == "" {
				continue
			}
			if line == "\n" {
				b.WriteString(line)
			} else {
				b.WriteString("    " + line)
			}
		}
	}
	return b.String()
}

// TestConfigMapPatchEmbedsTheHealthScripts keeps one Lua source: the
// ConfigMap must carry each health.lua byte for byte.
func TestConfigMapPatchEmbedsTheHealthScripts(t *testing.T) {
	if *update {
		if err := os.WriteFile(patchFile, []byte(renderConfigMap(t)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(patchFile)
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(raw, &cm); err != nil {
		t.Fatalf("%s: %v", patchFile, err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Name != "argocd-cm" || cm.Namespace != "argocd" {
		t.Errorf("%s is %s %s %s/%s, want v1 ConfigMap argocd/argocd-cm", patchFile, cm.APIVersion, cm.Kind, cm.Namespace, cm.Name)
	}
	for _, kind := range kinds {
		key := configMapKey(kind)
		got, ok := cm.Data[key]
		if !ok {
			t.Errorf("%s has no key %s", patchFile, key)
			continue
		}
		if want := readScript(t, kind); got != want {
			t.Errorf("%s: %s differs from %s; run go test ./test/argocd/ -run %s -update",
				patchFile, key, scriptPath(kind), t.Name())
		}
	}
	if len(cm.Data) != len(kinds) {
		t.Errorf("%s has %d keys, want %d", patchFile, len(cm.Data), len(kinds))
	}
	if got := renderConfigMap(t); string(raw) != got {
		t.Errorf("%s is not formatted as generated; run go test ./test/argocd/ -run %s -update", patchFile, t.Name())
	}
}
