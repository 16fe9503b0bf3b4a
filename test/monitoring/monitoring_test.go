// Package monitoring_test checks the monitoring manifests in config/monitoring
// (Grafana dashboard, PrometheusRule, ServiceMonitor, kustomization) against
// the metrics rolegate exports (internal/metrics) and the metrics Service it
// installs (config/default). Plain unit tests: no cluster, no envtest.
//
// Run: go test ./test/monitoring/ -count=1 -v
package monitoring_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/metrics"
)

const (
	monitoringDir = "../../config/monitoring"
	defaultDir    = "../../config/default"
	rbacDir       = "../../config/rbac"
	managerDir    = "../../config/manager"

	dashboardFile      = "grafana-dashboard.json"
	ruleFile           = "prometheusrule.yaml"
	serviceMonitorFile = "servicemonitor.yaml"
	monitoringAPI      = "monitoring.coreos.com/v1"
)

// Kinds of metric, as client_golang names them in a gathered MetricFamily.
const (
	counter   = "COUNTER"
	gauge     = "GAUGE"
	histogram = "HISTOGRAM"
)

type metricInfo struct {
	kind   string
	labels []string
}

// metricTable lists, for every metric in metrics.Names(), its kind and the
// label names internal/metrics gives it (the label slices passed to
// NewCounterVec/NewHistogramVec/NewDesc in metrics.go). The package exports
// the metric names but not the label names, so the labels are repeated here.
// The table cannot go stale silently:
//   - TestMetricTable fails when metrics.Names() has a metric the table lacks
//     (or the other way round), and
//   - it records one sample of every metric through the real Recorder and
//     StateCollector and compares the gathered kinds and label names with
//     this table.
//
// Histograms are listed under their base name; their series are
// <name>_bucket (with "le"), <name>_sum and <name>_count.
var metricTable = map[string]metricInfo{
	metrics.RequestsTotal:         {counter, []string{"policy", "outcome"}},
	metrics.TimeToDecisionSeconds: {histogram, []string{"policy", "decision"}},
	metrics.TimeToGrantSeconds:    {histogram, []string{"policy"}},
	metrics.PendingRequests:       {gauge, []string{"policy", "tier"}},
	metrics.OldestPendingAge:      {gauge, []string{"policy"}},
	metrics.EscalationsTotal:      {counter, []string{"policy", "from_tier", "to_tier"}},
	metrics.ActiveGrants:          {gauge, []string{"policy"}},
	metrics.OverdueGrants:         {gauge, nil},
	metrics.RevocationLagSeconds:  {histogram, nil},
	metrics.ValidationFailures:    {counter, []string{"reason"}},
	metrics.BreakGlassTotal:       {counter, []string{"policy"}},
	metrics.UnreviewedBreakGlass:  {gauge, []string{"policy"}},
	metrics.NotificationFailures:  {counter, []string{"policy", "target"}},
	metrics.ReconcileErrors:       {counter, []string{"reason"}},

	metrics.StandingServiceAccountBindings: {gauge, []string{"severity"}},
	metrics.PolicyReviewOverdue:            {gauge, []string{"policy"}},
	metrics.PolicyReviewDue:                {gauge, []string{"policy"}},
}

// labelValues lists the closed sets of label values internal/metrics exports
// as constants; an exact matcher (= or !=, or a plain a|b alternation) on
// these labels must use one of them. Other labels (policy, tier, reason) take
// values from the cluster's objects.
var labelValues = map[string][]string{
	"outcome": {metrics.OutcomeGranted, metrics.OutcomeDenied, metrics.OutcomeTimedOut,
		metrics.OutcomeRejected, metrics.OutcomeExpired, metrics.OutcomeRevoked},
	"decision": {metrics.DecisionApproved, metrics.DecisionAutoApproved, metrics.DecisionDenied, metrics.DecisionBreakGlass},
	"severity": {"critical", "high", "medium", "low", "none"},
}

var histogramSuffixes = []string{"_bucket", "_sum", "_count"}

// ---------------------------------------------------------------------------
// The PromQL checker. It is not a PromQL parser: it checks what the
// manifests can get wrong without a Prometheus to run them against.

// seriesRef is one rolegate series named in an expression.
type seriesRef struct {
	name       string   // as written, e.g. rolegate_time_to_grant_seconds_bucket
	labels     []string // labels the series carries
	start, end int      // offsets of the name in the expression
}

var (
	metricIdent  = regexp.MustCompile(`\brolegate_[a-zA-Z0-9_:]*`)
	groupingKW   = regexp.MustCompile(`\b(by|without|on|ignoring)\s*\(`)
	labelIdent   = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	matcherRE    = regexp.MustCompile("^\\s*([a-zA-Z_][a-zA-Z0-9_]*)\\s*(=~|!~|!=|=)\\s*(\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`)\\s*$")
	plainAltRE   = regexp.MustCompile(`^[a-z_]+(\|[a-z_]+)*$`)
	labelValuesQ = regexp.MustCompile(`^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)
)

// checkExpr returns an error listing every problem in a PromQL expression:
// unbalanced (), [], {} or quotes; rolegate metrics not in metrics.Names();
// histograms named without _bucket/_sum/_count (or those suffixes on other
// metrics); matchers and by/without/on/ignoring labels that the metric does
// not carry; and values outside the exported constants for closed labels.
func checkExpr(expr string) error {
	masked, err := checkBalanced(expr)
	if err != nil {
		return err // the structural checks below need balanced brackets
	}
	var errs []error
	refs, refErrs := seriesRefs(expr, masked)
	errs = append(errs, refErrs...)
	for _, r := range refs {
		errs = append(errs, checkMatchers(expr, masked, r)...)
	}
	errs = append(errs, checkGrouping(masked, refs)...)
	return errors.Join(errs...)
}

// checkBalanced checks brackets and quotes and returns expr with the inside
// of every string literal blanked out (same length, so offsets still line
// up), so that later scans do not look into label values.
func checkBalanced(expr string) (string, error) {
	masked := []byte(expr)
	var stack []int // offsets of open brackets
	pairs := map[byte]byte{')': '(', ']': '[', '}': '{'}
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch c {
		case '"', '\'', '`':
			j := i + 1
			for ; j < len(expr) && expr[j] != c; j++ {
				if expr[j] == '\\' && c != '`' {
					masked[j] = ' '
					j++
				}
				if j < len(expr) {
					masked[j] = ' '
				}
			}
			if j >= len(expr) {
				return "", fmt.Errorf("unterminated string starting at offset %d in %q", i, expr)
			}
			i = j
		case '(', '[', '{':
			stack = append(stack, i)
		case ')', ']', '}':
			if len(stack) == 0 || expr[stack[len(stack)-1]] != pairs[c] {
				return "", fmt.Errorf("unbalanced %q at offset %d in %q", c, i, expr)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return "", fmt.Errorf("unclosed %q at offset %d in %q", expr[stack[len(stack)-1]], stack[len(stack)-1], expr)
	}
	return string(masked), nil
}

// resolveSeries maps a series name to the labels it carries.
func resolveSeries(name string) ([]string, error) {
	names := metrics.Names()
	if slices.Contains(names, name) {
		info, ok := metricTable[name]
		if !ok {
			return nil, fmt.Errorf("metric %s has no entry in metricTable", name)
		}
		if info.kind == histogram {
			return nil, fmt.Errorf("%s is a histogram and has no series of its own; use %s_bucket, _sum or _count", name, name)
		}
		return info.labels, nil
	}
	for _, suffix := range histogramSuffixes {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok || !slices.Contains(names, base) {
			continue
		}
		info, ok := metricTable[base]
		if !ok {
			return nil, fmt.Errorf("metric %s has no entry in metricTable", base)
		}
		if info.kind != histogram {
			return nil, fmt.Errorf("%s: %s is a %s, not a histogram, so it has no %s series", name, base, strings.ToLower(info.kind), suffix)
		}
		if suffix == "_bucket" {
			return append(slices.Clone(info.labels), "le"), nil
		}
		return info.labels, nil
	}
	return nil, fmt.Errorf("unknown metric %s: not in metrics.Names() (even after stripping _bucket/_sum/_count)", name)
}

func seriesRefs(expr, masked string) ([]seriesRef, []error) {
	var refs []seriesRef
	var errs []error
	for _, loc := range metricIdent.FindAllStringIndex(masked, -1) {
		name := expr[loc[0]:loc[1]]
		labels, err := resolveSeries(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		refs = append(refs, seriesRef{name: name, labels: labels, start: loc[0], end: loc[1]})
	}
	return refs, errs
}

// matching returns the offset of the bracket closing the one at open.
func matching(masked string, open int) int {
	depth := 0
	for i := open; i < len(masked); i++ {
		switch masked[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// matchingBack returns the offset of the bracket opening the one at close.
func matchingBack(masked string, closeAt int) int {
	depth := 0
	for i := closeAt; i >= 0; i-- {
		switch masked[i] {
		case ')', ']', '}':
			depth++
		case '(', '[', '{':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// checkMatchers checks the {label op "value", ...} selector after a series.
func checkMatchers(expr, masked string, r seriesRef) []error {
	i := r.end
	for i < len(masked) && masked[i] == ' ' {
		i++
	}
	if i >= len(masked) || masked[i] != '{' {
		return nil
	}
	closeAt := matching(masked, i)
	var errs []error
	start := i + 1
	for _, part := range strings.SplitAfter(masked[start:closeAt], ",") {
		orig := strings.TrimSuffix(expr[start:start+len(part)], ",")
		start += len(part)
		if strings.TrimSpace(orig) == "" {
			continue
		}
		m := matcherRE.FindStringSubmatch(orig)
		if m == nil {
			errs = append(errs, fmt.Errorf("%s: malformed matcher %q", r.name, orig))
			continue
		}
		label, op, value := m[1], m[2], m[3][1:len(m[3])-1]
		if !slices.Contains(r.labels, label) {
			errs = append(errs, fmt.Errorf("%s has no label %q (it carries %v)", r.name, label, r.labels))
			continue
		}
		known, closed := labelValues[label]
		if !closed || strings.Contains(value, "$") {
			continue // open label, or a Grafana variable
		}
		var values []string
		switch {
		case op == "=" || op == "!=":
			values = []string{value}
		case plainAltRE.MatchString(value):
			values = strings.Split(value, "|")
		}
		for _, v := range values {
			if !slices.Contains(known, v) {
				errs = append(errs, fmt.Errorf("%s: %s=%q is not a value internal/metrics exports (%v)", r.name, label, v, known))
			}
		}
	}
	return errs
}

// groupingClause is one by/without/on/ignoring (...) clause.
type groupingClause struct {
	keyword                string
	labels                 []string
	scopeStart, scopeEnd   int // the expression the clause applies to
	clauseStart, clauseEnd int
}

// groupingClauses finds the clauses and the expressions they apply to: for
// by/without the aggregation's argument, which follows the clause
// (`sum by (x) (...)`) or precedes it (`sum(...) by (x)`); for the vector
// matching keywords on/ignoring, conservatively, the whole expression.
func groupingClauses(masked string) ([]groupingClause, []error) {
	var clauses []groupingClause
	var errs []error
	for _, loc := range groupingKW.FindAllStringSubmatchIndex(masked, -1) {
		kw := masked[loc[2]:loc[3]]
		open := loc[1] - 1
		closeAt := matching(masked, open)
		c := groupingClause{keyword: kw, clauseStart: loc[0], clauseEnd: closeAt}
		for _, l := range strings.Split(masked[open+1:closeAt], ",") {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			if !labelIdent.MatchString(l) {
				errs = append(errs, fmt.Errorf("%s (...): %q is not a label name", kw, l))
				continue
			}
			c.labels = append(c.labels, l)
		}
		switch kw {
		case "on", "ignoring":
			c.scopeStart, c.scopeEnd = 0, len(masked)
		default:
			next := closeAt + 1
			for next < len(masked) && masked[next] == ' ' {
				next++
			}
			prev := loc[0] - 1
			for prev >= 0 && masked[prev] == ' ' {
				prev--
			}
			switch {
			case next < len(masked) && masked[next] == '(':
				c.scopeStart, c.scopeEnd = next, matching(masked, next)
			case prev >= 0 && masked[prev] == ')':
				c.scopeStart, c.scopeEnd = matchingBack(masked, prev), prev
			default:
				errs = append(errs, fmt.Errorf("cannot find the expression %s (...) at offset %d applies to", kw, loc[0]))
				continue
			}
		}
		clauses = append(clauses, c)
	}
	return clauses, errs
}

// checkGrouping checks that every label in a grouping clause is carried by
// every rolegate series in the expression the clause applies to.
func checkGrouping(masked string, refs []seriesRef) []error {
	clauses, errs := groupingClauses(masked)
	for _, c := range clauses {
		for _, r := range refs {
			if r.start < c.scopeStart || r.end > c.scopeEnd {
				continue
			}
			for _, l := range c.labels {
				if !slices.Contains(r.labels, l) {
					errs = append(errs, fmt.Errorf("%s (%s): %s has no label %q (it carries %v)", c.keyword, strings.Join(c.labels, ", "), r.name, l, r.labels))
				}
			}
		}
	}
	return errs
}

// byLabels returns the labels of every by (...) clause in expr: the labels
// an aggregated alert keeps, which its annotations may use as $labels.X.
func byLabels(expr string) []string {
	masked, err := checkBalanced(expr)
	if err != nil {
		return nil
	}
	clauses, _ := groupingClauses(masked)
	var out []string
	for _, c := range clauses {
		if c.keyword == "by" {
			out = append(out, c.labels...)
		}
	}
	return out
}

// checkLabelValuesQuery checks a Grafana label_values(metric, label) query.
func checkLabelValuesQuery(q string) error {
	if _, err := checkBalanced(q); err != nil {
		return err
	}
	m := labelValuesQ.FindStringSubmatch(q)
	if m == nil {
		return fmt.Errorf("not a label_values(metric, label) query: %q", q)
	}
	labels, err := resolveSeries(m[1])
	if err != nil {
		return err
	}
	if !slices.Contains(labels, m[2]) {
		return fmt.Errorf("label_values: %s has no label %q (it carries %v)", m[1], m[2], labels)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Reading the manifests.

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readYAML(t *testing.T, dir, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(readFile(t, dir, name), &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// dig walks nested maps by key.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func digString(v any, keys ...string) string {
	s, _ := dig(v, keys...).(string)
	return s
}

func digSlice(v any, keys ...string) []any {
	s, _ := dig(v, keys...).([]any)
	return s
}

func stringMap(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	for k, val := range m {
		out[k], _ = val.(string)
	}
	return out
}

// dashboardPanels returns every panel, including those nested in rows.
func dashboardPanels(dash map[string]any) []map[string]any {
	var out []map[string]any
	var walk func([]any)
	walk = func(ps []any) {
		for _, p := range ps {
			pm, ok := p.(map[string]any)
			if !ok {
				continue
			}
			out = append(out, pm)
			walk(digSlice(pm, "panels"))
		}
	}
	walk(digSlice(dash, "panels"))
	return out
}

func loadDashboard(t *testing.T) map[string]any {
	t.Helper()
	var dash map[string]any
	if err := json.Unmarshal(readFile(t, monitoringDir, dashboardFile), &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return dash
}

type alertRule struct {
	name, expr, forDur string
	labels, annots     map[string]string
}

func loadAlerts(t *testing.T) []alertRule {
	t.Helper()
	var out []alertRule
	for _, g := range digSlice(readYAML(t, monitoringDir, ruleFile), "spec", "groups") {
		for _, r := range digSlice(g, "rules") {
			out = append(out, alertRule{
				name: digString(r, "alert"), expr: digString(r, "expr"), forDur: digString(r, "for"),
				labels: stringMap(dig(r, "labels")), annots: stringMap(dig(r, "annotations")),
			})
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Tests.

func TestExprChecker(t *testing.T) {
	good := []struct{ name, expr string }{
		{"accepts a quantile over a histogram's _bucket series grouped by le", `histogram_quantile(0.95, sum by (policy, le) (rate(rolegate_time_to_grant_seconds_bucket{policy=~"$policy"}[$__rate_interval])))`},
		{"accepts a ratio of two aggregations with their own by clauses", `sum by (policy) (rate(rolegate_escalations_total[1h])) / sum by (policy) (rate(rolegate_requests_total[1h])) > 0.25`},
		{"accepts a by clause after the aggregated expression", `sum(rate(rolegate_requests_total{outcome="granted"}[5m])) by (policy)`},
		{"accepts an alternation of exported outcome values", `sum(rate(rolegate_requests_total{outcome=~"denied|timed_out"}[5m]))`},
		{"accepts a negated alternation of exported decision values", `rolegate_time_to_decision_seconds_count{decision!~"auto_approved|break_glass"}`},
		{"does not read metric names inside label values", `rolegate_pending_requests{tier="rolegate_not_a_metric"}`},
		{"accepts absent over a label-less gauge", `absent(rolegate_overdue_grants)`},
		{"accepts unless, offset and an empty on ()", `sum by (policy, target) (rolegate_notification_failures_total unless rolegate_notification_failures_total offset 15m) and on () count(rolegate_overdue_grants offset 15m)`},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkExpr(tc.expr); err != nil {
				t.Errorf("checkExpr(%q) = %v, want nil", tc.expr, err)
			}
		})
	}
	bad := []struct{ name, expr, want string }{
		{"rejects an unknown metric", `sum(rolegate_pending_request)`, "unknown metric rolegate_pending_request"},
		{"rejects an unbalanced parenthesis", `sum(rate(rolegate_requests_total[5m])`, "unclosed"},
		{"rejects a closing bracket that does not match", `sum(rolegate_pending_requests])`, "unbalanced"},
		{"rejects an unterminated string", `rolegate_pending_requests{policy="a}`, "unterminated string"},
		{"rejects a histogram named without a series suffix", `rate(rolegate_revocation_lag_seconds[5m])`, "has no series of its own"},
		{"rejects a _bucket suffix on a counter", `rate(rolegate_requests_total_bucket[5m])`, "not a histogram"},
		{"rejects a matcher on a label the metric does not carry", `rolegate_overdue_grants{policy="p"}`, `has no label "policy"`},
		{"rejects a by label the metric does not carry", `sum by (tier) (rolegate_active_grants)`, `has no label "tier"`},
		{"rejects a target label on break-glass grants", `sum by (target) (rate(rolegate_break_glass_total[5m]))`, `has no label "target"`},
		{"rejects le outside a _bucket series", `sum by (le) (rate(rolegate_time_to_grant_seconds_count[5m]))`, `has no label "le"`},
		{"rejects a without label the metric does not carry", `sum without (outcome) (rolegate_pending_requests)`, `has no label "outcome"`},
		{"rejects an outcome value internal/metrics does not export", `rolegate_requests_total{outcome="approved"}`, "is not a value"},
		{"rejects a decision value internal/metrics does not export", `rolegate_time_to_decision_seconds_count{decision!~"auto_approved|breakglass"}`, "is not a value"},
		{"rejects a malformed matcher", `rolegate_requests_total{outcome}`, "malformed matcher"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := checkExpr(tc.expr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("checkExpr(%q) = %v, want an error containing %q", tc.expr, err, tc.want)
			}
		})
	}
	t.Run("rejects label_values over a label the metric does not carry", func(t *testing.T) {
		if err := checkLabelValuesQuery(`label_values(rolegate_requests_total, tier)`); err == nil {
			t.Error("want an error")
		}
	})
}

// stateReader is a client.Reader that lists fixed objects, for the
// StateCollector.
type stateReader struct {
	requests []accessv1alpha1.AccessRequest
	bindings []rbacv1.RoleBinding
	policies []accessv1alpha1.ApprovalPolicy
}

func (stateReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return errors.New("not implemented")
}

func (r stateReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	switch l := list.(type) {
	case *accessv1alpha1.AccessRequestList:
		l.Items = r.requests
	case *rbacv1.RoleBindingList:
		l.Items = r.bindings
	case *accessv1alpha1.ApprovalPolicyList:
		l.Items = r.policies
	default:
		return fmt.Errorf("unexpected list %T", list)
	}
	return nil
}

func requestWithReason(reason string, created time.Time) accessv1alpha1.AccessRequest {
	r := accessv1alpha1.AccessRequest{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}}
	r.Status.Policy, r.Status.Tier = "p", "t"
	r.Status.Conditions = []metav1.Condition{{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason}}
	return r
}

// gatherMetrics records one sample of every rolegate metric through the real
// Recorder and StateCollector and returns kind and label names by metric.
func gatherMetrics(t *testing.T) map[string]metricInfo {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	rec, err := metrics.NewRecorder(reg)
	if err != nil {
		t.Fatal(err)
	}
	rec.Outcome("p", metrics.OutcomeGranted)
	rec.Decided("p", metrics.DecisionApproved, time.Minute)
	rec.Granted("p", time.Minute)
	rec.Escalated("p", "a", "b")
	rec.Revoked(time.Second)
	rec.Rejected("r")
	rec.BreakGlass("p")
	rec.NotificationFailed("p", "slack")
	rec.ReconcileError("BindingFailed")
	now := time.Now()
	unreviewed := requestWithReason(accessv1alpha1.ReasonGranted, now.Add(-time.Hour))
	unreviewed.Status.Conditions = append(unreviewed.Status.Conditions,
		metav1.Condition{Type: accessv1alpha1.ConditionReviewed, Status: metav1.ConditionFalse, Reason: accessv1alpha1.ReasonReviewPending})
	reader := stateReader{
		requests: []accessv1alpha1.AccessRequest{
			requestWithReason(accessv1alpha1.ReasonPendingApproval, now.Add(-time.Hour)),
			requestWithReason(accessv1alpha1.ReasonGranted, now.Add(-time.Hour)),
			unreviewed,
		},
		bindings: []rbacv1.RoleBinding{{ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue},
			Annotations: map[string]string{accessv1alpha1.ExpiresAtAnnotation: now.Add(-time.Minute).UTC().Format(time.RFC3339)},
		}}},
	}
	if err := reg.Register(metrics.NewStateCollector(reader, clock.RealClock{})); err != nil {
		t.Fatal(err)
	}
	reader.policies = []accessv1alpha1.ApprovalPolicy{{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: accessv1alpha1.ApprovalPolicySpec{Review: &accessv1alpha1.PolicyReview{Every: metav1.Duration{Duration: time.Hour}}}}}
	if err := reg.Register(metrics.NewReviewCollector(reader, clock.RealClock{})); err != nil {
		t.Fatal(err)
	}
	standing, err := metrics.NewStandingBindings(reg)
	if err != nil {
		t.Fatal(err)
	}
	standing.Set(nil)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]metricInfo{}
	for _, mf := range families {
		info := metricInfo{kind: mf.GetType().String()}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !slices.Contains(info.labels, lp.GetName()) {
					info.labels = append(info.labels, lp.GetName())
				}
			}
		}
		got[mf.GetName()] = info
	}
	return got
}

func TestMetricTable(t *testing.T) {
	t.Run("covers every metric in metrics.Names()", func(t *testing.T) {
		for _, n := range metrics.Names() {
			if _, ok := metricTable[n]; !ok {
				t.Errorf("metrics.Names() has %s but metricTable does not: add its kind and labels", n)
			}
		}
	})
	t.Run("lists no metric that metrics.Names() lacks", func(t *testing.T) {
		for n := range metricTable {
			if !slices.Contains(metrics.Names(), n) {
				t.Errorf("metricTable has %s but metrics.Names() does not", n)
			}
		}
	})
	t.Run("matches the kinds and labels internal/metrics registers", func(t *testing.T) {
		got := gatherMetrics(t)
		for _, n := range metrics.Names() {
			g, ok := got[n]
			if !ok {
				t.Errorf("%s: no sample gathered; record one in gatherMetrics", n)
				continue
			}
			want := metricTable[n]
			gl, wl := slices.Sorted(slices.Values(g.labels)), slices.Sorted(slices.Values(want.labels))
			if g.kind != want.kind || !slices.Equal(gl, wl) {
				t.Errorf("%s: registered as %s with labels %v, metricTable says %s with %v", n, g.kind, gl, want.kind, wl)
			}
		}
		for n := range got {
			if strings.HasPrefix(n, "rolegate_") && !slices.Contains(metrics.Names(), n) {
				t.Errorf("%s is registered but missing from metrics.Names()", n)
			}
		}
	})
}

func TestDashboard(t *testing.T) {
	dash := loadDashboard(t)
	panels := dashboardPanels(dash)

	t.Run("has uid rolegate, a title and schemaVersion 39 or later", func(t *testing.T) {
		if uid := digString(dash, "uid"); uid != "rolegate" {
			t.Errorf("uid = %q, want rolegate", uid)
		}
		if digString(dash, "title") == "" {
			t.Error("no title")
		}
		if v, _ := dash["schemaVersion"].(float64); v < 39 {
			t.Errorf("schemaVersion = %v, want >= 39", dash["schemaVersion"])
		}
	})

	t.Run("gives every panel a unique id", func(t *testing.T) {
		seen := map[float64]string{}
		for _, p := range panels {
			id, ok := p["id"].(float64)
			if !ok {
				t.Errorf("panel %q has no numeric id", digString(p, "title"))
				continue
			}
			if other, dup := seen[id]; dup {
				t.Errorf("panels %q and %q share id %v", other, digString(p, "title"), id)
			}
			seen[id] = digString(p, "title")
		}
	})

	vars := map[string]any{}
	for _, v := range digSlice(dash, "templating", "list") {
		vars[digString(v, "name")] = v
	}

	t.Run("has a prometheus datasource variable", func(t *testing.T) {
		v := vars["datasource"]
		if digString(v, "type") != "datasource" || digString(v, "query") != "prometheus" {
			t.Errorf("datasource variable = %v, want type datasource with query prometheus", v)
		}
	})

	t.Run("has a policy variable over label_values(rolegate_requests_total, policy)", func(t *testing.T) {
		v := vars["policy"]
		q := digString(v, "query")
		if q == "" {
			q = digString(v, "query", "query")
		}
		if q != "label_values(rolegate_requests_total, policy)" {
			t.Errorf("policy variable query = %q", q)
		}
		if err := checkLabelValuesQuery(q); err != nil {
			t.Error(err)
		}
		if digString(v, "datasource", "uid") != "${datasource}" {
			t.Errorf("policy variable does not query ${datasource}: %v", dig(v, "datasource"))
		}
	})

	t.Run("queries only the selected datasource", func(t *testing.T) {
		for _, p := range panels {
			if digString(p, "type") == "row" {
				continue
			}
			if uid := digString(p, "datasource", "uid"); uid != "${datasource}" {
				t.Errorf("panel %q: datasource uid %q, want ${datasource}", digString(p, "title"), uid)
			}
			for _, tg := range digSlice(p, "targets") {
				if ds := dig(tg, "datasource"); ds != nil && digString(ds, "uid") != "${datasource}" {
					t.Errorf("panel %q: target datasource %v, want ${datasource}", digString(p, "title"), ds)
				}
			}
		}
	})

	t.Run("uses only metrics and labels rolegate exports in every panel query", func(t *testing.T) {
		n := 0
		for _, p := range panels {
			for _, tg := range digSlice(p, "targets") {
				expr := digString(tg, "expr")
				if expr == "" {
					t.Errorf("panel %q: target %v has no expr", digString(p, "title"), tg)
					continue
				}
				n++
				if err := checkExpr(expr); err != nil {
					t.Errorf("panel %q: %v", digString(p, "title"), err)
				}
			}
		}
		if n == 0 {
			t.Fatal("no panel queries found")
		}
	})

	// Each view the dashboard must offer, found by the series it queries.
	exprsOf := func(p map[string]any) string {
		var s []string
		for _, tg := range digSlice(p, "targets") {
			s = append(s, digString(tg, "expr"))
		}
		return strings.Join(s, "\n")
	}
	views := []struct{ name, series string }{
		{"pending requests by policy and tier", "by (policy, tier) (rolegate_pending_requests"},
		{"oldest pending age", "rolegate_oldest_pending_age_seconds"},
		{"time to decision p50", "histogram_quantile(0.5, sum by (policy, le) (rate(rolegate_time_to_decision_seconds_bucket"},
		{"time to decision p95", "histogram_quantile(0.95, sum by (policy, le) (rate(rolegate_time_to_decision_seconds_bucket"},
		{"time to grant p95", "histogram_quantile(0.95, sum by (policy, le) (rate(rolegate_time_to_grant_seconds_bucket"},
		{"escalations by from_tier and to_tier", "by (from_tier, to_tier) (rate(rolegate_escalations_total"},
		{"requests by outcome", "by (outcome) (rate(rolegate_requests_total"},
		{"active grants", "rolegate_active_grants"},
		{"revocation lag p99", "histogram_quantile(0.99, sum by (le) (rate(rolegate_revocation_lag_seconds_bucket"},
		{"validation failures by reason", "by (reason) (rate(rolegate_validation_failures_total"},
		{"unreviewed break-glass grants", "rolegate_break_glass_unreviewed"},
		{"break-glass grants by policy", "by (policy) (rate(rolegate_break_glass_total"},
		{"notification failures by policy and target", "by (policy, target) (rate(rolegate_notification_failures_total"},
	}
	for _, v := range views {
		t.Run("shows "+v.name, func(t *testing.T) {
			for _, p := range panels {
				if strings.Contains(exprsOf(p), v.series) {
					return
				}
			}
			t.Errorf("no panel queries %q", v.series)
		})
	}

	thresholdSteps := func(p map[string]any) map[float64]string {
		steps := map[float64]string{}
		for _, s := range digSlice(p, "fieldConfig", "defaults", "thresholds", "steps") {
			if v, ok := dig(s, "value").(float64); ok {
				steps[v] = digString(s, "color")
			}
		}
		return steps
	}
	// statOf is the first stat panel whose queries name metric.
	statOf := func(metric string) map[string]any {
		for _, p := range panels {
			if digString(p, "type") == "stat" && strings.Contains(exprsOf(p), metric) {
				return p
			}
		}
		return nil
	}
	for _, metric := range []string{metrics.OverdueGrants, metrics.UnreviewedBreakGlass} {
		t.Run("shows "+metric+" as a stat in the first row that turns red above zero", func(t *testing.T) {
			p := statOf(metric)
			if p == nil {
				t.Fatal("no stat panel queries " + metric)
			}
			if c := thresholdSteps(p)[1]; c != "red" {
				t.Errorf("%s stat thresholds %v, want red from 1", metric, thresholdSteps(p))
			}
			if y, _ := dig(p, "gridPos", "y").(float64); y > 1 {
				t.Errorf("%s stat is at y=%v, want it in the first row (y=1)", metric, y)
			}
		})
	}
	t.Run("does not let the policy filter hide unreviewed break-glass grants", func(t *testing.T) {
		p := statOf(metrics.UnreviewedBreakGlass)
		if p == nil {
			t.Fatal("no stat panel queries " + metrics.UnreviewedBreakGlass)
		}
		if e := exprsOf(p); strings.Contains(e, "$policy") {
			t.Errorf("unreviewed break-glass stat %q is filtered by $policy", e)
		}
	})
	t.Run("marks the oldest pending age threshold", func(t *testing.T) {
		for _, p := range panels {
			if strings.Contains(exprsOf(p), metrics.OldestPendingAge) && len(thresholdSteps(p)) > 0 {
				return
			}
		}
		t.Error("no panel on " + metrics.OldestPendingAge + " has a threshold")
	})
}

func TestPrometheusRule(t *testing.T) {
	rule := readYAML(t, monitoringDir, ruleFile)
	alerts := loadAlerts(t)

	t.Run("is a monitoring.coreos.com/v1 PrometheusRule named rolegate", func(t *testing.T) {
		if rule["apiVersion"] != monitoringAPI || rule["kind"] != "PrometheusRule" || digString(rule, "metadata", "name") != "rolegate" {
			t.Errorf("got %v %v %q", rule["apiVersion"], rule["kind"], digString(rule, "metadata", "name"))
		}
	})

	want := []struct{ alert, severity, forDur string }{
		{"RolegateOverdueGrants", "critical", "1m"},
		{"RolegateOldestPendingRequest", "warning", "10m"},
		{"RolegateEscalationRateHigh", "warning", "30m"},
		{"RolegateRevocationLagHigh", "warning", ""},
		{"RolegateMetricsAbsent", "warning", "10m"},
		{"RolegateBreakGlassUnreviewed", "warning", "1h"},
		{"RolegateNotificationFailures", "warning", ""},
	}
	t.Run("defines the expected alerts with their severities and for durations", func(t *testing.T) {
		byName := map[string]alertRule{}
		for _, a := range alerts {
			if _, dup := byName[a.name]; dup {
				t.Errorf("alert %s defined twice", a.name)
			}
			byName[a.name] = a
		}
		for _, w := range want {
			a, ok := byName[w.alert]
			if !ok {
				t.Errorf("no alert %s", w.alert)
				continue
			}
			if a.labels["severity"] != w.severity {
				t.Errorf("%s: severity %q, want %q", w.alert, a.labels["severity"], w.severity)
			}
			if w.forDur != "" && a.forDur != w.forDur {
				t.Errorf("%s: for %q, want %q", w.alert, a.forDur, w.forDur)
			}
		}
	})

	t.Run("gives every alert a severity, a summary and a description", func(t *testing.T) {
		if len(alerts) == 0 {
			t.Fatal("no rules")
		}
		for _, a := range alerts {
			if a.name == "" {
				t.Errorf("rule %q is not an alert", a.expr)
				continue
			}
			if !slices.Contains([]string{"critical", "warning", "info"}, a.labels["severity"]) {
				t.Errorf("%s: severity %q, want critical, warning or info", a.name, a.labels["severity"])
			}
			for _, k := range []string{"summary", "description"} {
				if strings.TrimSpace(a.annots[k]) == "" {
					t.Errorf("%s: no %s annotation", a.name, k)
				}
			}
			if a.forDur != "" {
				if _, err := time.ParseDuration(a.forDur); err != nil {
					t.Errorf("%s: for %q: %v", a.name, a.forDur, err)
				}
			}
		}
	})

	t.Run("uses only metrics and labels rolegate exports in every rule expression", func(t *testing.T) {
		for _, a := range alerts {
			if strings.TrimSpace(a.expr) == "" {
				t.Errorf("%s: no expr", a.name)
				continue
			}
			if err := checkExpr(a.expr); err != nil {
				t.Errorf("%s: %v", a.name, err)
			}
		}
	})

	labelRef := regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
	t.Run("refers in annotations only to labels the expression keeps", func(t *testing.T) {
		for _, a := range alerts {
			kept := byLabels(a.expr)
			for k, text := range a.annots {
				for _, m := range labelRef.FindAllStringSubmatch(text, -1) {
					if !slices.Contains(kept, m[1]) {
						t.Errorf("%s: annotation %s uses $labels.%s, but the expression keeps only %v", a.name, k, m[1], kept)
					}
				}
			}
		}
	})

	alertNamed := func(name string) alertRule {
		t.Helper()
		for _, a := range alerts {
			if a.name == name {
				return a
			}
		}
		t.Fatalf("no alert %s", name)
		return alertRule{}
	}
	t.Run("alerts on any unreviewed break-glass grant and tells how to acknowledge it", func(t *testing.T) {
		a := alertNamed("RolegateBreakGlassUnreviewed")
		if want := "max by (policy) (" + metrics.UnreviewedBreakGlass + ") > 0"; strings.TrimSpace(a.expr) != want {
			t.Errorf("expr %q, want %q", a.expr, want)
		}
		for _, want := range []string{"kubectl rolegate ack", "decision: Acknowledge", "kubectl rolegate report"} {
			if !strings.Contains(a.annots["description"], want) {
				t.Errorf("description does not mention %q", want)
			}
		}
	})
	t.Run("alerts on notification failures within 15m, including a target's first failure", func(t *testing.T) {
		a := alertNamed("RolegateNotificationFailures")
		for _, want := range []string{
			"increase(" + metrics.NotificationFailures + "[15m])) > 0",
			metrics.NotificationFailures + " unless " + metrics.NotificationFailures + " offset 15m",
		} {
			if !strings.Contains(a.expr, want) {
				t.Errorf("expr %q lacks %q", a.expr, want)
			}
		}
	})

	t.Run("tells the on-call how to list rolegate's bindings when grants are overdue", func(t *testing.T) {
		for _, a := range alerts {
			if a.name == "RolegateOverdueGrants" {
				sel := accessv1alpha1.ManagedByLabel + "=" + accessv1alpha1.ManagedByValue
				if !strings.Contains(a.annots["description"], "kubectl get rolebindings -A -l "+sel) {
					t.Errorf("description does not show `kubectl get rolebindings -A -l %s`", sel)
				}
			}
		}
	})
}

// metricsService reads the metrics Service and where config/default installs it.
func metricsService(t *testing.T) (svc map[string]any, namespace, namePrefix string) {
	t.Helper()
	svc = readYAML(t, defaultDir, "metrics_service.yaml")
	k := readYAML(t, defaultDir, "kustomization.yaml")
	if !slices.Contains(digSlice(k, "resources"), any("metrics_service.yaml")) {
		t.Fatal("config/default does not install metrics_service.yaml")
	}
	return svc, digString(k, "namespace"), digString(k, "namePrefix")
}

func TestServiceMonitor(t *testing.T) {
	sm := readYAML(t, monitoringDir, serviceMonitorFile)
	svc, namespace, _ := metricsService(t)

	t.Run("is a monitoring.coreos.com/v1 ServiceMonitor", func(t *testing.T) {
		if sm["apiVersion"] != monitoringAPI || sm["kind"] != "ServiceMonitor" || digString(sm, "metadata", "name") == "" {
			t.Errorf("got %v %v %q", sm["apiVersion"], sm["kind"], digString(sm, "metadata", "name"))
		}
	})

	t.Run("selects labels the metrics Service carries", func(t *testing.T) {
		sel := stringMap(dig(sm, "spec", "selector", "matchLabels"))
		if len(sel) == 0 {
			t.Fatal("no spec.selector.matchLabels")
		}
		if exprs := digSlice(sm, "spec", "selector", "matchExpressions"); len(exprs) > 0 {
			t.Errorf("matchExpressions %v are not checked; use matchLabels", exprs)
		}
		have := stringMap(dig(svc, "metadata", "labels"))
		for k, v := range sel {
			if have[k] != v {
				t.Errorf("selector %s=%s, but the Service has %s=%q", k, v, k, have[k])
			}
		}
	})

	t.Run("does not select the webhook Service", func(t *testing.T) {
		sel := stringMap(dig(sm, "spec", "selector", "matchLabels"))
		have := stringMap(dig(readYAML(t, "../../config/webhook", "service.yaml"), "metadata", "labels"))
		for k, v := range sel {
			if have[k] != v {
				return
			}
		}
		t.Errorf("selector %v also matches the webhook Service (labels %v), which serves no metrics", sel, have)
	})

	t.Run("looks in the namespace config/default installs into", func(t *testing.T) {
		names := digSlice(sm, "spec", "namespaceSelector", "matchNames")
		if !slices.Contains(names, any(namespace)) {
			t.Errorf("namespaceSelector.matchNames = %v, want %s", names, namespace)
		}
	})

	t.Run("scrapes the Service's named port over https with the Prometheus token", func(t *testing.T) {
		endpoints := digSlice(sm, "spec", "endpoints")
		if len(endpoints) != 1 {
			t.Fatalf("want 1 endpoint, got %d", len(endpoints))
		}
		ep := endpoints[0]
		port := digString(ep, "port")
		var target string
		for _, p := range digSlice(svc, "spec", "ports") {
			if digString(p, "name") == port && port != "" {
				target = digString(p, "targetPort")
			}
		}
		if target == "" {
			t.Errorf("endpoint port %q is not a named port of the Service", port)
		}
		if digString(ep, "scheme") != "https" {
			t.Errorf("scheme %q, want https", digString(ep, "scheme"))
		}
		if p := digString(ep, "path"); p != "" && p != "/metrics" {
			t.Errorf("path %q, want /metrics", p)
		}
		checkScrapeCredentials(t, ep)
		// The Service's targetPort must name a port of the manager container.
		if target != "" && !regexp.MustCompile(`(?m)^\s*- name: `+regexp.QuoteMeta(target)+`\s*$`).Match(readFile(t, managerDir, "manager.yaml")) {
			t.Errorf("the Service's targetPort %q is not a named port in config/manager/manager.yaml", target)
		}
	})
}

// checkScrapeCredentials: the endpoint authenticates with the token of the
// scraper ServiceAccount that metrics-scraper.yaml binds to the
// metrics-reader role (the current authorization field, not the deprecated
// bearerTokenFile), and verifies the manager's certificate against the CA of
// the webhook Secret (never insecureSkipVerify).
func checkScrapeCredentials(t *testing.T, ep any) {
	t.Helper()
	if dig(ep, "bearerTokenFile") != nil || dig(ep, "bearerTokenSecret") != nil {
		t.Error("the endpoint uses the deprecated bearerTokenFile/bearerTokenSecret; use authorization")
	}
	if typ := digString(ep, "authorization", "type"); typ != "" && typ != "Bearer" {
		t.Errorf("authorization.type %q, want Bearer", typ)
	}
	scraper := readDocs(t, monitoringDir, "metrics-scraper.yaml")
	secret := scraper["Secret"]
	if name := digString(ep, "authorization", "credentials", "name"); name == "" || name != digString(secret, "metadata", "name") ||
		digString(ep, "authorization", "credentials", "key") != "token" {
		t.Errorf("authorization.credentials %v is not the token of the scraper Secret %q", dig(ep, "authorization", "credentials"),
			digString(secret, "metadata", "name"))
	}
	sa := digString(scraper["ServiceAccount"], "metadata", "name")
	if digString(secret, "type") != "kubernetes.io/service-account-token" ||
		digString(secret, "metadata", "annotations", "kubernetes.io/service-account.name") != sa {
		t.Errorf("the scraper Secret is not a token of ServiceAccount %q", sa)
	}
	crb := scraper["ClusterRoleBinding"]
	if digString(crb, "roleRef", "name") != "rolegate-metrics-reader" || len(digSlice(crb, "subjects")) != 1 ||
		digString(digSlice(crb, "subjects")[0], "name") != sa {
		t.Errorf("the scraper ServiceAccount %q is not bound to rolegate-metrics-reader alone: %v", sa, crb)
	}
	if dig(ep, "tlsConfig", "insecureSkipVerify") == true {
		t.Error("tlsConfig.insecureSkipVerify is true: verify the manager's certificate")
	}
	if digString(ep, "tlsConfig", "ca", "secret", "name") != "rolegate-webhook-server-cert" ||
		digString(ep, "tlsConfig", "ca", "secret", "key") != "ca.crt" {
		t.Errorf("tlsConfig.ca %v is not the ca.crt of the webhook Secret", dig(ep, "tlsConfig", "ca"))
	}
	if digString(ep, "tlsConfig", "serverName") != "rolegate-webhook-service.rolegate-system.svc" {
		t.Errorf("tlsConfig.serverName %q is not a name in the webhook certificate", digString(ep, "tlsConfig", "serverName"))
	}
}

// readDocs reads a multi-document YAML file by kind.
func readDocs(t *testing.T, dir, name string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for doc := range strings.SplitSeq(string(readFile(t, dir, name)), "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m != nil {
			out[digString(m, "kind")] = m
		}
	}
	return out
}

func TestKustomization(t *testing.T) {
	k := readYAML(t, monitoringDir, "kustomization.yaml")
	_, namespace, prefix := metricsService(t)

	t.Run("lists the PrometheusRule and the ServiceMonitor", func(t *testing.T) {
		res := digSlice(k, "resources")
		for _, f := range []string{ruleFile, serviceMonitorFile} {
			if !slices.Contains(res, any(f)) {
				t.Errorf("resources %v lack %s", res, f)
			}
		}
		for _, f := range res {
			if _, err := os.Stat(filepath.Join(monitoringDir, fmt.Sprint(f))); err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("installs into the namespace of the metrics Service", func(t *testing.T) {
		if got := digString(k, "namespace"); got != namespace {
			t.Errorf("namespace %q, want %q", got, namespace)
		}
	})

	t.Run("generates the dashboard ConfigMap labelled grafana_dashboard=1", func(t *testing.T) {
		for _, g := range digSlice(k, "configMapGenerator") {
			if !slices.Contains(digSlice(g, "files"), any(dashboardFile)) {
				continue
			}
			labels := stringMap(dig(g, "options", "labels"))
			if labels["grafana_dashboard"] == "" {
				labels = stringMap(dig(k, "generatorOptions", "labels"))
			}
			if labels["grafana_dashboard"] != "1" {
				t.Errorf("dashboard ConfigMap labels %v, want grafana_dashboard: \"1\"", labels)
			}
			return
		}
		t.Errorf("no configMapGenerator has files: [%s]", dashboardFile)
	})

	t.Run("README names the metrics reader ClusterRole and the metrics Service as installed", func(t *testing.T) {
		readme := string(readFile(t, monitoringDir, "README.md"))
		role := prefix + digString(readYAML(t, rbacDir, "metrics_reader_role.yaml"), "metadata", "name")
		svcName := prefix + digString(readYAML(t, defaultDir, "metrics_service.yaml"), "metadata", "name")
		for _, name := range []string{role, svcName} {
			if !strings.Contains(readme, name) {
				t.Errorf("README.md does not mention %s", name)
			}
		}
	})
}
