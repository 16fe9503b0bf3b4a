package lint

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

func lintPaths(t *testing.T, o Options, paths ...string) Result {
	t.Helper()
	src, err := Collect(paths)
	if err != nil {
		t.Fatalf("Collect(%v): %v", paths, err)
	}
	return Lint(src, o)
}

func lines(r Result) []string {
	out := make([]string, 0, len(r.Findings))
	for _, f := range r.Findings {
		out = append(out, f.String())
	}
	return out
}

func reasonsIn(r Result, file string) []string {
	var out []string
	for _, f := range r.Findings {
		if filepath.Base(f.File) == file {
			out = append(out, f.Reason)
		}
	}
	return out
}

func TestLintTree(t *testing.T) {
	r := lintPaths(t, Options{}, "testdata/tree")
	got := lines(r)

	want := []string{
		`testdata/tree/cluster-admin.yaml:9: spec.roleRef: no policy allows ClusterRole cluster-admin in namespace payments; ` +
			`roles that can be requested here: ClusterRole/view, Role/db-migrator (ApprovalPolicy "payments")`,
		`testdata/tree/too-long.yaml:9: spec.duration: 2h0m0s exceeds the maxDuration 1h0m0s of Role/db-migrator ` +
			`in ApprovalPolicy "payments"; ask for 1h0m0s or less`,
		`testdata/tree/missing-tag.yaml:11: spec.tags.owner: required by ApprovalPolicy "payments"; set any non-empty value`,
		`testdata/tree/bad-tag.yaml:13: spec.tags.application: "billing" is not allowed by ApprovalPolicy "payments"; allowed: payments-api, ledger`,
		`testdata/tree/requester.yaml:12: spec.requester: is written by rolegate from the authenticated user; remove it from the manifest`,
		`testdata/tree/decision.yaml:9: spec.reviewer: is written by rolegate from the authenticated user; remove it from the manifest`,
		`testdata/tree/multi.yaml:19: spec.justification: required by ApprovalPolicy "payments"; ` +
			`say why the access is needed (for example a change ticket)`,
		`testdata/tree/kustomize/listed.yaml:9: spec.duration: 1h30m0s exceeds the maxDuration 1h0m0s of Role/db-migrator ` +
			`in ApprovalPolicy "payments"; ask for 1h0m0s or less`,
	}
	for _, w := range want {
		w = filepath.FromSlash(w)
		if !slices.Contains(got, w) {
			t.Errorf("missing finding\n  %s\ngot:\n  %s", w, strings.Join(got, "\n  "))
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d findings, want %d:\n  %s", len(got), len(want), strings.Join(got, "\n  "))
	}
	if r.Errors() != len(want) {
		t.Errorf("Errors() = %d, want %d", r.Errors(), len(want))
	}
	// good, cluster-admin, too-long, missing-tag, bad-tag, requester,
	// two in multi, and only the listed one of the kustomization.
	if r.Requests != 9 {
		t.Errorf("Requests = %d, want 9", r.Requests)
	}
}

func TestLintCases(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		paths   []string
		file    string
		reasons []string
	}{
		{"accepts a good request", Options{}, []string{"testdata/tree"}, "good.yaml", nil},
		{"refuses a role outside the catalog", Options{}, []string{"testdata/tree"}, "cluster-admin.yaml",
			[]string{accessv1alpha1.ReasonRoleNotInCatalog}},
		{"refuses a duration over maxDuration", Options{}, []string{"testdata/tree"}, "too-long.yaml",
			[]string{accessv1alpha1.ReasonDurationTooLong}},
		{"refuses a missing tag", Options{}, []string{"testdata/tree"}, "missing-tag.yaml",
			[]string{accessv1alpha1.ReasonMissingTag}},
		{"refuses a disallowed tag value", Options{}, []string{"testdata/tree"}, "bad-tag.yaml",
			[]string{accessv1alpha1.ReasonTagValueNotAllowed}},
		{"refuses a client-set requester", Options{}, []string{"testdata/tree"}, "requester.yaml",
			[]string{ReasonIdentitySet}},
		{"refuses a client-set reviewer", Options{}, []string{"testdata/tree"}, "decision.yaml",
			[]string{ReasonIdentitySet}},
		{"checks every document of a file", Options{}, []string{"testdata/tree"}, "multi.yaml",
			[]string{accessv1alpha1.ReasonJustificationRequired}},
		{"skips files that are not Kubernetes objects", Options{}, []string{"testdata/tree"}, "not-k8s.yaml", nil},
		{"lints only the files a kustomization lists, in its namespace", Options{}, []string{"testdata/tree"}, "listed.yaml",
			[]string{accessv1alpha1.ReasonDurationTooLong}},
		{"never lints files a kustomization does not list", Options{}, []string{"testdata/tree"}, "unlisted.yaml", nil},
		{"lints a file named explicitly", Options{}, []string{"testdata/tree/kustomize/unlisted.yaml", "testdata/tree/policy.yaml",
			"testdata/tree/namespace.yaml"}, "unlisted.yaml",
			[]string{accessv1alpha1.ReasonRoleNotInCatalog}},
		{"warns when namespace labels are unknown", Options{}, []string{"testdata/unlabelled"}, "too-long.yaml",
			[]string{ReasonUnknownPolicy}},
		{"uses --namespace-labels", Options{NamespaceLabels: map[string]map[string]string{"payments": {"team": "payments"}}},
			[]string{"testdata/unlabelled"}, "too-long.yaml", []string{accessv1alpha1.ReasonDurationTooLong}},
		{"--namespace-labels that no policy selects", Options{NamespaceLabels: map[string]map[string]string{"payments": {}}},
			[]string{"testdata/unlabelled"}, "too-long.yaml", []string{accessv1alpha1.ReasonNoMatchingPolicy}},
		{"warns when no policy is in the linted paths", Options{}, []string{"testdata/tree/good.yaml"}, "good.yaml",
			[]string{ReasonUnknownPolicy}},
		{"checks the requester given", Options{Requester: &accessv1alpha1.UserInfo{Username: "mallory"}},
			[]string{"testdata/tree"}, "good.yaml", []string{accessv1alpha1.ReasonRequesterNotAllowed}},
		{"accepts an allowed requester", Options{Requester: &accessv1alpha1.UserInfo{Username: "bob", Groups: []string{"payments-devs"}}},
			[]string{"testdata/tree"}, "good.yaml", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := lintPaths(t, tc.opts, tc.paths...)
			if got := reasonsIn(r, tc.file); !slices.Equal(got, tc.reasons) {
				t.Errorf("reasons for %s = %v, want %v\n  %s", tc.file, got, tc.reasons, strings.Join(lines(r), "\n  "))
			}
		})
	}
}

func TestLintWarningIsNotAnError(t *testing.T) {
	r := lintPaths(t, Options{}, "testdata/unlabelled")
	want := filepath.FromSlash("testdata/unlabelled/too-long.yaml") + ":6: warning: spec: cannot tell which ApprovalPolicy " +
		"governs namespace payments offline; add the Namespace manifest or --namespace-labels"
	if got := lines(r); !slices.Equal(got, []string{want}) {
		t.Errorf("findings = %q, want %q", got, want)
	}
	if r.Errors() != 0 {
		t.Errorf("Errors() = %d, want 0", r.Errors())
	}
}

// The shipped samples must pass their own policy.
func TestLintSamples(t *testing.T) {
	r := lintPaths(t, Options{}, "../../config/samples")
	if r.Errors() != 0 || r.Requests == 0 {
		t.Errorf("samples: %d errors over %d requests:\n  %s", r.Errors(), r.Requests, strings.Join(lines(r), "\n  "))
	}
	r = lintPaths(t, Options{NamespaceLabels: map[string]map[string]string{"payments": {"team": "payments"}}}, "../../config/samples")
	if len(r.Findings) != 0 {
		t.Errorf("samples with namespace labels:\n  %s", strings.Join(lines(r), "\n  "))
	}
}

func TestLintBytes(t *testing.T) {
	cases := []struct {
		name   string
		data   string
		reason string
		line   int
		sev    Severity
	}{
		{"refuses a file that is not YAML, at the line the parser names", "a: 1\nb: [\n", ReasonInvalidYAML, 2, Error},
		{"refuses an unknown field", "apiVersion: access.rolegate.dev/v1alpha1\nkind: AccessRequest\nmetadata: {name: x, namespace: y}\n" +
			"spec:\n  serviceAccount: {name: sa}\n  roleRef: {kind: ClusterRole, name: view}\n  duration: 1h\n  durration: 1h\n",
			ReasonSchema, 8, Error},
		{"refuses an unreadable duration once", "apiVersion: access.rolegate.dev/v1alpha1\nkind: AccessRequest\nmetadata: {name: x}\n" +
			"spec:\n  serviceAccount: {name: sa}\n  roleRef: {kind: ClusterRole, name: view}\n  duration: forever\n",
			ReasonSchema, 7, Error},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Lint([]Source{{Path: "x.yaml", Data: []byte(tc.data)}}, Options{})
			if len(r.Findings) != 1 {
				t.Fatalf("findings = %q, want one", lines(r))
			}
			f := r.Findings[0]
			if f.Reason != tc.reason || f.Line != tc.line || f.Severity != tc.sev {
				t.Errorf("finding = %+v, want reason %s line %d severity %s", f, tc.reason, tc.line, tc.sev)
			}
		})
	}
}

type lineCase struct {
	field string
	want  int
}

// checkLineOf parses src and checks lineOf for each field.
func checkLineOf(t *testing.T, src string, cases []lineCase) {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		if got := lineOf(n.Content[0], tc.field); got != tc.want {
			t.Errorf("lineOf(%q) = %d, want %d", tc.field, got, tc.want)
		}
	}
}

func TestLineOf(t *testing.T) {
	checkLineOf(t, "kind: X\nspec:\n  roleRef: {kind: Role, name: r}\n  tags:\n    example.com/team: a\n    owner: b\n", []lineCase{
		{"spec.roleRef", 3},
		{"spec.roleRef.name", 3},
		{"spec.tags.example.com/team", 5},
		{"spec.tags.owner", 6},
		{"spec.tags.missing", 4},
		{"spec.duration", 2},
		{"metadata.name", 1},
		{"", 1},
	})
	// Items of a sequence, by index.
	checkLineOf(t, "spec:\n  entitlements:\n    - roleRef: {kind: Role, name: a}\n      maxDuration: 1h\n"+
		"    - roleRef: {kind: Role, name: b}\n      maxDuration: 2h\n", []lineCase{
		{"spec.entitlements[0]", 3},
		{"spec.entitlements[1]", 5},
		{"spec.entitlements[1].maxDuration", 6},
		{"spec.entitlements[1].missing", 5},
		{"spec.entitlements[7]", 1},
		{"spec.entitlements[x]", 1},
	})
}

func TestParseNamespaceLabels(t *testing.T) {
	cases := []struct {
		in     string
		ns     string
		labels map[string]string
		err    bool
	}{
		{in: "payments=team=payments,env=prod", ns: "payments", labels: map[string]string{"team": "payments", "env": "prod"}},
		{in: "payments=", ns: "payments", labels: map[string]string{}},
		{in: "payments", err: true},
		{in: "=team=payments", err: true},
		{in: "payments=team", err: true},
	}
	for _, tc := range cases {
		ns, labels, err := ParseNamespaceLabels(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParseNamespaceLabels(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if tc.err {
			continue
		}
		if ns != tc.ns || len(labels) != len(tc.labels) {
			t.Errorf("ParseNamespaceLabels(%q) = %q %v, want %q %v", tc.in, ns, labels, tc.ns, tc.labels)
		}
		for k, v := range tc.labels {
			if labels[k] != v {
				t.Errorf("ParseNamespaceLabels(%q)[%s] = %q, want %q", tc.in, k, labels[k], v)
			}
		}
	}
}

func TestCollectMissingResource(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "kustomization.yaml"), "resources: [gone.yaml]\n")
	if _, err := Collect([]string{dir}); err == nil || !strings.Contains(err.Error(), "gone.yaml does not exist") {
		t.Errorf("Collect error = %v, want a missing resource", err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLintPersistenceRisks(t *testing.T) {
	dir := filepath.FromSlash("testdata/risk/")
	fix := "; remove the rule, or set allowPersistenceRisk: true with persistenceRiskReason on the entitlement"
	refused := "; a holder could outlive or widen a temporary grant, so requests for it are refused"
	secretWriter := `Role/secret-writer in namespace payments (` + dir + `roles.yaml:52): ` +
		`rule {apiGroups: [""], resources: ["secrets"], verbs: ["get", "create"]} can create Secrets, including long-lived service account tokens`
	staging := `Role/secret-writer in namespace staging (` + dir + `roles.yaml:70): ` +
		`rule {apiGroups: ["*"], resources: ["*"], verbs: ["*"]} grants every verb (*)`
	aggregated := `ClusterRole/aggregate-admin (` + dir + `roles.yaml:20): ` +
		`rule {apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles"], verbs: ["get", "escalate"]} has the escalate verb, ` +
		`which widens access beyond the role`
	requestFinding := func(line, role, risk string) string {
		return dir + "requests.yaml:" + line + ": spec.roleRef: " + role + " lets its holder outlive or widen a temporary grant (" +
			role + ": " + risk + "); ask the policy owner to remove the rule, or set allowPersistenceRisk: true " +
			"with persistenceRiskReason on the entitlement"
	}
	cases := []struct {
		name   string
		opts   Options
		want   []string
		errors int
	}{
		{"flags risky catalog roles on the entitlement and on the requests for them", Options{}, []string{
			dir + "policy.yaml:16: spec.entitlements[2]: " + secretWriter + refused + fix,
			dir + `policy.yaml:16: warning: spec.entitlements[2]: ` + staging + `; requests for it are refused if ` +
				`ApprovalPolicy "payments" governs namespace staging, which cannot be told offline ` +
				`(add the Namespace manifest or --namespace-labels)` + fix,
			dir + "policy.yaml:19: spec.entitlements[3]: " + aggregated + refused + fix,
			requestFinding("8", "Role/secret-writer",
				`rule {apiGroups: [""], resources: ["secrets"], verbs: ["get", "create"]} can create Secrets, including long-lived service account tokens`),
			requestFinding("41", "ClusterRole/aggregate-admin",
				`rule {apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles"], verbs: ["get", "escalate"]} has the escalate verb, `+
					`which widens access beyond the role`),
		}, 4},
		{"a Role in a namespace the policy governs is an error", Options{NamespaceLabels: map[string]map[string]string{"staging": {"team": "payments"}}},
			[]string{dir + "policy.yaml:16: spec.entitlements[2]: " + staging + refused + fix}, 5},
		{"a Role in a namespace the policy does not govern is not reported", Options{NamespaceLabels: map[string]map[string]string{"staging": {"team": "qa"}}},
			nil, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := lintPaths(t, tc.opts, "testdata/risk")
			got := lines(r)
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("missing finding\n  %s\ngot:\n  %s", w, strings.Join(got, "\n  "))
				}
			}
			for _, f := range r.Findings {
				if f.Reason != accessv1alpha1.ReasonEntitlementAllowsPersistence {
					t.Errorf("unexpected finding %s (%s)", f, f.Reason)
				}
				// Harmless, aggregated-harmless, accepted and absent roles
				// are never reported, nor is the Role of an ungoverned namespace.
				for _, clean := range []string{"view", "db-migrator", "token-minter", "not-in-the-tree", "roles.yaml:61"} {
					if strings.Contains(f.Message, "/"+clean+" ") || strings.Contains(f.Message, clean+")") {
						t.Errorf("finding names %s, which carries no unaccepted risk: %s", clean, f)
					}
				}
			}
			if r.Errors() != tc.errors {
				t.Errorf("Errors() = %d, want %d:\n  %s", r.Errors(), tc.errors, strings.Join(got, "\n  "))
			}
		})
	}
}

func TestLintPersistenceRiskOfARoleWithoutNamespace(t *testing.T) {
	policy := "apiVersion: access.rolegate.dev/v1alpha1\nkind: ApprovalPolicy\nmetadata: {name: p}\nspec:\n" +
		"  namespaceSelector: {matchLabels: {team: a}}\n  entitlements:\n" +
		"    - {roleRef: {kind: Role, name: binder}, maxDuration: 1h, autoApprove: true}\n"
	role := "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: binder}\n" +
		"rules:\n  - {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind]}\n"
	r := Lint([]Source{{Path: "policy.yaml", Data: []byte(policy)}, {Path: "role.yaml", Data: []byte(role)}}, Options{})
	want := `policy.yaml:7: warning: spec.entitlements[0]: Role/binder without a namespace (role.yaml:1): ` +
		`rule {apiGroups: ["rbac.authorization.k8s.io"], resources: ["clusterroles"], verbs: ["bind"]} has the bind verb, ` +
		`which widens access beyond the role; requests for it are refused if ApprovalPolicy "p" governs the namespace ` +
		`it is applied in, which cannot be told offline; remove the rule, or set allowPersistenceRisk: true with ` +
		`persistenceRiskReason on the entitlement`
	if got := lines(r); !slices.Equal(got, []string{want}) {
		t.Errorf("findings =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), want)
	}
	// A kustomization's namespace places the Role.
	r = Lint([]Source{{Path: "policy.yaml", Data: []byte(policy)}, {Path: "role.yaml", Data: []byte(role), Namespace: "a"},
		{Path: "ns.yaml", Data: []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {team: a}}\n")}}, Options{})
	if r.Errors() != 1 || !strings.Contains(r.Findings[0].Message, "Role/binder in namespace a (role.yaml:1)") {
		t.Errorf("findings = %q, want one error for the Role in namespace a", lines(r))
	}
}

// A policy the API server would refuse is reported, and the requests it
// would govern say why they cannot be checked, instead of "no policy found".
func TestLintRequestUnderARefusedPolicy(t *testing.T) {
	policy := "apiVersion: access.rolegate.dev/v1alpha1\nkind: ApprovalPolicy\nmetadata: {name: broken}\nspec:\n" +
		"  namespaceSelector: {}\n  entitlements:\n  - roleRef: {kind: ClusterRole, name: view}\n    maxDuration: 1d\n" +
		"    autoApprove: true\n"
	request := "apiVersion: access.rolegate.dev/v1alpha1\nkind: AccessRequest\nmetadata: {name: r, namespace: payments}\n" +
		"spec:\n  serviceAccount: {name: sa}\n  roleRef: {kind: ClusterRole, name: view}\n  duration: 1h\n  justification: x\n"
	r := Lint([]Source{{Path: "policy.yaml", Data: []byte(policy)}, {Path: "request.yaml", Data: []byte(request)}}, Options{})
	got := lines(r)
	want := []string{
		`policy.yaml:8: spec.entitlements[0].maxDuration: Invalid value: "1d": maxDuration must be a Go duration such as 30m or 8h ` +
			`(units h, m, s, ms; days are not a unit: write 72h for 3 days)`,
		`request.yaml:4: warning: spec: cannot be checked offline: ApprovalPolicy "broken" at policy.yaml:1 is refused (see its errors); fix it and lint again`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if r.Errors() != 1 || r.Warnings() != 1 || r.Objects != 2 {
		t.Errorf("errors %d warnings %d objects %d, want 1, 1, 2", r.Errors(), r.Warnings(), r.Objects)
	}
}
