package monitoring_test

import (
	"regexp"
	"strings"
	"testing"
)

// runbookBase is where every alert's runbook_url points: a section of
// docs/operations.md.
const runbookBase = "https://rolegate.dev/rolegate/docs/operations.md#"

var (
	alertLine   = regexp.MustCompile(`(?m)^\s*- alert: (\S+)\s*$`)
	runbookLine = regexp.MustCompile(`(?m)^\s*runbook_url: (\S+)\s*$`)
	headingLine = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
	// notInSlug is what GitHub drops from a heading to make its anchor.
	notInSlug = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// anchors are the GitHub anchors of the headings of a Markdown file.
func anchors(md string) map[string]bool {
	out := map[string]bool{}
	for _, m := range headingLine.FindAllStringSubmatch(md, -1) {
		slug := strings.ReplaceAll(notInSlug.ReplaceAllString(strings.ToLower(strings.TrimSpace(m[1])), ""), " ", "-")
		out[slug] = true
	}
	return out
}

// TestRunbookURLs: every alert, in config/monitoring and in the Helm
// chart's template, carries a runbook_url naming a section of
// docs/operations.md that exists, and the section is the alert's own.
func TestRunbookURLs(t *testing.T) {
	sections := anchors(string(readFile(t, "../../docs", "operations.md")))
	for _, f := range []struct{ dir, name string }{
		{monitoringDir, ruleFile},
		{"../../dist/chart/templates", "prometheusrule.yaml"},
	} {
		text := string(readFile(t, f.dir, f.name))
		starts := alertLine.FindAllStringSubmatchIndex(text, -1)
		if len(starts) == 0 {
			t.Fatalf("%s/%s has no alerts", f.dir, f.name)
		}
		for i, s := range starts {
			alert := text[s[2]:s[3]]
			end := len(text)
			if i+1 < len(starts) {
				end = starts[i+1][0]
			}
			urls := runbookLine.FindAllStringSubmatch(text[s[0]:end], -1)
			if len(urls) != 1 {
				t.Errorf("%s: alert %s has %d runbook_url annotations, want 1", f.name, alert, len(urls))
				continue
			}
			url := strings.Trim(urls[0][1], `"'`)
			anchor, ok := strings.CutPrefix(url, runbookBase)
			switch {
			case !ok:
				t.Errorf("%s: %s runbook_url %s is not under %s", f.name, alert, url, runbookBase)
			case !sections[anchor]:
				t.Errorf("%s: %s runbook_url %s: docs/operations.md has no section #%s", f.name, alert, url, anchor)
			case anchor != strings.ToLower(alert):
				t.Errorf("%s: %s runbook_url points at #%s, the runbook of another alert", f.name, alert, anchor)
			}
		}
	}
}

func TestAnchors(t *testing.T) {
	got := anchors("# Operations\n## Leader election and availability\n### High availability: leader loss and the expiry revoker\n")
	for _, want := range []string{"operations", "leader-election-and-availability", "high-availability-leader-loss-and-the-expiry-revoker"} {
		if !got[want] {
			t.Errorf("anchors %v lack %s", got, want)
		}
	}
}
