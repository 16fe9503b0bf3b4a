package main

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

const lintTestdata = "../../internal/lint/testdata"

func TestLintCommand(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		code     int
		out      []string
		errOut   string
		emptyOut bool
	}{
		{
			name: "exits 1 and prints the findings of a bad tree",
			args: []string{"lint", filepath.Join(lintTestdata, "tree")},
			code: 1,
			out: []string{
				filepath.Join(lintTestdata, "tree", "too-long.yaml") + ":9: spec.duration: 2h0m0s exceeds the maxDuration 1h0m0s",
				filepath.Join(lintTestdata, "tree", "requester.yaml") + ":12: spec.requester: is written by rolegate",
			},
			errOut: "error: 8 problem(s) that the API server would refuse\n",
		},
		{
			name: "exits 1 for a catalog role with an unaccepted persistence risk",
			args: []string{"lint", filepath.Join(lintTestdata, "risk")},
			code: 1,
			out: []string{
				filepath.Join(lintTestdata, "risk", "policy.yaml") + ":16: spec.entitlements[2]: Role/secret-writer in namespace payments (" +
					filepath.Join(lintTestdata, "risk", "roles.yaml") + `:52): rule {apiGroups: [""], resources: ["secrets"], ` +
					`verbs: ["get", "create"]} can create Secrets`,
				"remove the rule, or set allowPersistenceRisk: true with persistenceRiskReason on the entitlement",
				filepath.Join(lintTestdata, "risk", "requests.yaml") + ":8: spec.roleRef: Role/secret-writer lets its holder outlive",
			},
			errOut: "error: 4 problem(s) that the API server would refuse\n",
		},
		{
			name:     "exits 0 for a clean tree",
			args:     []string{"lint", filepath.Join(lintTestdata, "clean")},
			code:     0,
			out:      []string{"3 files, 2 objects, 0 errors, 0 warnings\n"},
			emptyOut: true,
		},
		{
			name: "exits 0 with only warnings",
			args: []string{"lint", filepath.Join(lintTestdata, "unlabelled")},
			code: 0,
			out:  []string{"warning: spec: cannot tell which ApprovalPolicy governs namespace payments offline"},
		},
		{
			name: "applies --namespace-labels",
			args: []string{"lint", filepath.Join(lintTestdata, "unlabelled"), "--namespace-labels", "payments=team=payments"},
			code: 1,
			out:  []string{"too-long.yaml:9: spec.duration: 2h0m0s exceeds"},
		},
		{
			name: "checks --requester",
			args: []string{"lint", filepath.Join(lintTestdata, "clean"), "--requester", "mallory"},
			code: 1,
			out:  []string{"good.yaml:6: spec.requester: mallory may not open requests under ApprovalPolicy \"payments\""},
		},
		{
			name:     "accepts an allowed --requester",
			args:     []string{"lint", filepath.Join(lintTestdata, "clean"), "--requester", "bob", "--requester-group", "payments-devs"},
			code:     0,
			out:      []string{"3 files, 2 objects, 0 errors, 0 warnings\n"},
			emptyOut: true,
		},
		{
			name:   "refuses a malformed --namespace-labels",
			args:   []string{"lint", filepath.Join(lintTestdata, "clean"), "--namespace-labels", "payments"},
			code:   2,
			errOut: "want NAMESPACE=KEY=VALUE",
		},
		{
			name:   "refuses a missing path",
			args:   []string{"lint", filepath.Join(lintTestdata, "nope")},
			code:   2,
			errOut: "no such file or directory",
		},
		{
			name:   "needs a path",
			args:   []string{"lint"},
			code:   2,
			errOut: "requires at least 1 arg",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			if code := run(tc.args, streams, rootOptions{}); code != tc.code {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.out {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if tc.emptyOut && strings.Count(out.String(), "\n") != 1 {
				t.Errorf("stdout = %q, want only the summary", out)
			}
			if !strings.Contains(errOut.String(), tc.errOut) {
				t.Errorf("stderr = %q, want %q", errOut, tc.errOut)
			}
		})
	}
}
