package lint

import (
	"strings"
	"testing"
)

// The golden cases, read offline: what the API server test proves equal to
// admission, checked here word for word without a server.
func TestLintRefusesBrokenTicketTagsAndChecksTicketValues(t *testing.T) {
	r := lintPaths(t, Options{}, goldenCluster, "testdata/golden/rejected/policy-ticket-pattern.yaml",
		"testdata/golden/rejected/request-ticket-pattern.yaml", "testdata/golden/rejected/request-ticket-missing.yaml",
		"testdata/golden/accepted/request-ticket.yaml")
	want := []string{
		`testdata/golden/rejected/policy-ticket-pattern.yaml:12: spec.requiredTags[0].pattern: "^CHG-[0-9+$" is not ` +
			`an RE2 regular expression (missing closing ]: ` + "`[0-9+$`" + `); write one such as ^CHG-[0-9]+$`,
		`testdata/golden/rejected/policy-ticket-pattern.yaml:13: spec.requiredTags[0].link: "https://tickets.example/browse/" ` +
			`does not contain {value}, where the tag's value goes; write a template such as https://tickets.example/browse/{value}`,
		`testdata/golden/rejected/request-ticket-pattern.yaml:17: spec.tags.change: "chg 42" does not match the pattern ` +
			`^CHG-[0-9]+$ required by ApprovalPolicy "golden-policy"`,
		`testdata/golden/rejected/request-ticket-missing.yaml:15: spec.tags.change: required by ApprovalPolicy "golden-policy" ` +
			`from sensitivity high up (this request is critical); set a value matching ^CHG-[0-9]+$`,
	}
	if got := lines(r); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestLintWarnsAboutAPolicyOverlappingAnEarlierOne(t *testing.T) {
	r := lintPaths(t, Options{}, goldenCluster, "testdata/golden/warned/policy-overlap.yaml")
	if r.Errors() != 0 || len(r.Findings) != 1 {
		t.Fatalf("want one warning, got:\n  %s", strings.Join(lines(r), "\n  "))
	}
	f := r.Findings[0]
	want := []string{`ApprovalPolicy "golden-policy" also offers Role/db-migrator in namespace(s) golden; a request for it there ` +
		`matches both policies and must name one in spec.policy; `,
		`"golden-overlap" is weaker: it grants without approval (autoApprove) where "golden-policy" requires approval, ` +
			`allows maxDuration 4h0m0s where "golden-policy" allows 1h0m0s, does not require tag(s) type, change`}
	if f.Reason != ReasonOverlap || f.Field != "spec.entitlements" || !strings.HasPrefix(f.Message, want[0]) ||
		!strings.Contains(f.Message, want[1]) ||
		f.File != "testdata/golden/warned/policy-overlap.yaml" {
		t.Errorf("finding %s (%s), want a warning saying %q", f, f.Reason, want)
	}
}
