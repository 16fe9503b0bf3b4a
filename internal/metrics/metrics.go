// Package metrics defines rolegate's Prometheus metrics. Counters and
// histograms are recorded as requests change state; gauges are computed
// at scrape time from the manager's cache, so they are right after a
// restart. No label carries a user or request name.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
	"rolegate.dev/rolegate/internal/report"
)

// Metric names.
const (
	RequestsTotal         = "rolegate_requests_total"
	TimeToDecisionSeconds = "rolegate_time_to_decision_seconds"
	TimeToGrantSeconds    = "rolegate_time_to_grant_seconds"
	PendingRequests       = "rolegate_pending_requests"
	OldestPendingAge      = "rolegate_oldest_pending_age_seconds"
	EscalationsTotal      = "rolegate_escalations_total"
	ActiveGrants          = "rolegate_active_grants"
	OverdueGrants         = "rolegate_overdue_grants"
	RevocationLagSeconds  = "rolegate_revocation_lag_seconds"
	ValidationFailures    = "rolegate_validation_failures_total"
	BreakGlassTotal       = "rolegate_break_glass_total"
	UnreviewedBreakGlass  = "rolegate_break_glass_unreviewed"
	NotificationFailures  = "rolegate_notification_failures_total"
	ReconcileErrors       = "rolegate_reconcile_errors_total"
	// StandingServiceAccountBindings counts the RoleBindings and
	// ClusterRoleBindings that give service accounts standing access, by
	// severity (see internal/inventory).
	StandingServiceAccountBindings = "rolegate_standing_serviceaccount_bindings"
)

// Names lists every metric rolegate exports, for dashboards and alerts to be
// checked against.
func Names() []string {
	return []string{
		RequestsTotal, TimeToDecisionSeconds, TimeToGrantSeconds, PendingRequests, OldestPendingAge,
		EscalationsTotal, ActiveGrants, OverdueGrants, RevocationLagSeconds, ValidationFailures,
		BreakGlassTotal, UnreviewedBreakGlass, NotificationFailures, ReconcileErrors, StandingServiceAccountBindings,
		PolicyReviewOverdue, PolicyReviewDue,
	}
}

// labelPolicy is the ApprovalPolicy label.
const labelPolicy = "policy"

// Outcomes counted by rolegate_requests_total.
const (
	OutcomeGranted  = "granted"
	OutcomeDenied   = "denied"
	OutcomeTimedOut = "timed_out"
	OutcomeRejected = "rejected"
	OutcomeExpired  = "expired"
	OutcomeRevoked  = "revoked"
)

// Decisions observed by rolegate_time_to_decision_seconds.
const (
	DecisionApproved     = "approved"
	DecisionAutoApproved = "auto_approved"
	DecisionDenied       = "denied"
	DecisionBreakGlass   = "break_glass"
)

// decisionBuckets span seconds (auto-approval) to days (human review).
var decisionBuckets = []float64{1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200}

// lagBuckets span the sub-second revocation the controller aims for to
// the minutes a stopped manager could add.
var lagBuckets = []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300}

// Recorder records request transitions.
type Recorder struct {
	requests       *prometheus.CounterVec
	timeToDecision *prometheus.HistogramVec
	timeToGrant    *prometheus.HistogramVec
	escalations    *prometheus.CounterVec
	revocationLag  prometheus.Histogram
	validation     *prometheus.CounterVec
	breakGlass     *prometheus.CounterVec
	notifyFailures *prometheus.CounterVec
	reconcileErrs  *prometheus.CounterVec
}

// NewRecorder creates the recorder and registers its metrics.
func NewRecorder(reg prometheus.Registerer) (*Recorder, error) {
	r := &Recorder{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: RequestsTotal,
			Help: "AccessRequests that reached an outcome: granted, denied, timed_out, rejected, expired or revoked."},
			[]string{labelPolicy, "outcome"}),
		timeToDecision: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: TimeToDecisionSeconds,
			Help: "Seconds from a request's creation to its approval or denial.", Buckets: decisionBuckets},
			[]string{labelPolicy, "decision"}),
		timeToGrant: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: TimeToGrantSeconds,
			Help: "Seconds from a request's creation to its RoleBinding.", Buckets: decisionBuckets},
			[]string{labelPolicy}),
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: EscalationsTotal,
			Help: "Requests handed from one approver tier to the next because the first did not decide in time."},
			[]string{labelPolicy, "from_tier", "to_tier"}),
		revocationLag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: RevocationLagSeconds,
			Help: "Seconds between a grant's expiresAt and the removal of its RoleBinding.", Buckets: lagBuckets}),
		validation: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ValidationFailures,
			Help: "Requests refused by their policy, at admission or by the controller, by reason."},
			[]string{"reason"}),
		breakGlass: prometheus.NewCounterVec(prometheus.CounterOpts{Name: BreakGlassTotal,
			Help: "Break-glass grants: access given at once, without approval, to be reviewed afterwards."},
			[]string{labelPolicy}),
		notifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NotificationFailures,
			Help: "Notifications a target did not accept after every retry."},
			[]string{labelPolicy, "target"}),
		reconcileErrs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ReconcileErrors,
			Help: "Failures to act on an AccessRequest after admission, by reason (BindingFailed, RevocationFailed, " +
				"ReadFailed, BindingConflict, ServiceAccountNotFound); each is retried."},
			[]string{"reason"}),
	}
	for _, c := range []prometheus.Collector{r.requests, r.timeToDecision, r.timeToGrant, r.escalations, r.revocationLag, r.validation,
		r.breakGlass, r.notifyFailures, r.reconcileErrs} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Outcome counts a request reaching an outcome.
func (r *Recorder) Outcome(policyName, outcome string) {
	if r != nil {
		r.requests.WithLabelValues(policyName, outcome).Inc()
	}
}

// Decided observes the time from creation to a decision.
func (r *Recorder) Decided(policyName, decision string, d time.Duration) {
	if r != nil {
		r.timeToDecision.WithLabelValues(policyName, decision).Observe(d.Seconds())
	}
}

// Granted observes the time from creation to the grant.
func (r *Recorder) Granted(policyName string, d time.Duration) {
	if r != nil {
		r.timeToGrant.WithLabelValues(policyName).Observe(d.Seconds())
	}
}

// Escalated counts a hand-over between tiers.
func (r *Recorder) Escalated(policyName, from, to string) {
	if r != nil {
		r.escalations.WithLabelValues(policyName, from, to).Inc()
	}
}

// Revoked observes how long after expiry a binding was removed.
func (r *Recorder) Revoked(lag time.Duration) {
	if r != nil {
		r.revocationLag.Observe(max(lag, 0).Seconds())
	}
}

// Rejected counts a validation failure.
func (r *Recorder) Rejected(reason string) {
	if r != nil {
		r.validation.WithLabelValues(reason).Inc()
	}
}

// ReconcileError counts a failure to act on a request, by reason.
func (r *Recorder) ReconcileError(reason string) {
	if r != nil {
		r.reconcileErrs.WithLabelValues(reason).Inc()
	}
}

// BreakGlass counts a break-glass grant.
func (r *Recorder) BreakGlass(policyName string) {
	if r != nil {
		r.breakGlass.WithLabelValues(policyName).Inc()
	}
}

// InitPolicy starts the break-glass and notification-failure counters of a
// policy at zero, so that the first break-glass grant or failed notification
// after a start is an increase that rate() and increase() see.
func (r *Recorder) InitPolicy(p *accessv1alpha1.ApprovalPolicy) {
	if r == nil {
		return
	}
	for _, e := range p.Spec.Entitlements {
		if e.BreakGlass != nil {
			r.breakGlass.WithLabelValues(p.Name)
			break
		}
	}
	for _, t := range p.Spec.Notify {
		r.notifyFailures.WithLabelValues(p.Name, t.Name)
	}
}

// NotificationFailed counts a notification a target did not accept.
func (r *Recorder) NotificationFailed(policyName, target string) {
	if r != nil {
		r.notifyFailures.WithLabelValues(policyName, target).Inc()
	}
}

// StateCollector computes the gauges from the cache at scrape time.
type StateCollector struct {
	Reader  client.Reader
	Clock   clock.PassiveClock
	Timeout time.Duration

	pending, oldest, active, overdue, unreviewed *prometheus.Desc
}

// NewStateCollector creates the scrape-time collector.
func NewStateCollector(reader client.Reader, clk clock.PassiveClock) *StateCollector {
	return &StateCollector{
		Reader: reader, Clock: clk, Timeout: 5 * time.Second,
		pending: prometheus.NewDesc(PendingRequests, "AccessRequests waiting for approval, by the tier that decides them now.",
			[]string{labelPolicy, "tier"}, nil),
		oldest: prometheus.NewDesc(OldestPendingAge, "Age in seconds of the oldest AccessRequest waiting for approval.",
			[]string{labelPolicy}, nil),
		active: prometheus.NewDesc(ActiveGrants, "AccessRequests whose access is granted now.", []string{labelPolicy}, nil),
		overdue: prometheus.NewDesc(OverdueGrants,
			"RoleBindings managed by rolegate whose grant has expired but which still exist; anything above 0 is an incident.",
			nil, nil),
		unreviewed: prometheus.NewDesc(UnreviewedBreakGlass,
			"Break-glass grants no eligible reviewer has acknowledged yet.", []string{labelPolicy}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *StateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.oldest
	ch <- c.active
	ch <- c.overdue
	ch <- c.unreviewed
}

// Collect implements prometheus.Collector.
func (c *StateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	now := c.Clock.Now()
	var requests accessv1alpha1.AccessRequestList
	if err := c.Reader.List(ctx, &requests); err != nil {
		ch <- prometheus.NewInvalidMetric(c.pending, err)
		return
	}
	s := report.Summarize(requests.Items, now)
	for k, n := range s.Pending {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n), k.Policy, k.Tier)
	}
	for p, age := range s.OldestPending {
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age.Seconds(), p)
	}
	for p, n := range s.Active {
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(n), p)
	}
	for p, n := range s.Unreviewed {
		ch <- prometheus.MustNewConstMetric(c.unreviewed, prometheus.GaugeValue, float64(n), p)
	}
	var bindings rbacv1.RoleBindingList
	if err := c.Reader.List(ctx, &bindings, client.MatchingLabels{accessv1alpha1.ManagedByLabel: accessv1alpha1.ManagedByValue}); err != nil {
		ch <- prometheus.NewInvalidMetric(c.overdue, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(report.CountOverdue(bindings.Items, now)))
}

// StandingBindings is the rolegate_standing_serviceaccount_bindings gauge,
// which the manager's standing-access inventory sets on an interval.
type StandingBindings struct {
	gauge *prometheus.GaugeVec
}

// NewStandingBindings registers the gauge with reg.
func NewStandingBindings(reg prometheus.Registerer) (*StandingBindings, error) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: StandingServiceAccountBindings,
		Help: "RoleBindings and ClusterRoleBindings that give service accounts standing access, " +
			"by severity (critical, high, medium, low, none)."},
		[]string{"severity"})
	if err := reg.Register(g); err != nil {
		return nil, err
	}
	return &StandingBindings{gauge: g}, nil
}

// Set replaces every severity's count; severities missing from counts are 0.
func (s *StandingBindings) Set(counts map[policy.Severity]int) {
	for _, sev := range policy.Severities {
		s.gauge.WithLabelValues(string(sev)).Set(float64(counts[sev]))
	}
}
