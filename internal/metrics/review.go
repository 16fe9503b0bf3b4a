package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// Metric names of policy reviews (recertification).
const (
	PolicyReviewOverdue = "rolegate_policy_review_overdue"
	PolicyReviewDue     = "rolegate_policy_review_due_timestamp_seconds"
)

// ReviewCollector computes the review gauges of every policy with a
// spec.review from the cache at scrape time, so an overdue review shows
// the moment it is due, whether or not the policy was reconciled since.
type ReviewCollector struct {
	Reader  client.Reader
	Clock   clock.PassiveClock
	Timeout time.Duration

	overdue, due *prometheus.Desc
}

// NewReviewCollector creates the collector.
func NewReviewCollector(reader client.Reader, clk clock.PassiveClock) *ReviewCollector {
	return &ReviewCollector{
		Reader: reader, Clock: clk, Timeout: 5 * time.Second,
		overdue: prometheus.NewDesc(PolicyReviewOverdue,
			"1 when the policy's review (spec.review) is overdue: its owners have not attested it in time; 0 otherwise.",
			[]string{labelPolicy}, nil),
		due: prometheus.NewDesc(PolicyReviewDue,
			"Unix time at which the policy's next review is due.", []string{labelPolicy}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *ReviewCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.overdue
	ch <- c.due
}

// Collect implements prometheus.Collector.
func (c *ReviewCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	var policies accessv1alpha1.ApprovalPolicyList
	if err := c.Reader.List(ctx, &policies); err != nil {
		ch <- prometheus.NewInvalidMetric(c.overdue, err)
		return
	}
	now := c.Clock.Now()
	for i := range policies.Items {
		p := &policies.Items[i]
		s := policy.ReviewOfStatus(p, now)
		if s.Phase == policy.ReviewNotRequired {
			continue
		}
		overdue := 0.0
		if s.Phase == policy.ReviewOverdue {
			overdue = 1
		}
		ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, overdue, p.Name)
		ch <- prometheus.MustNewConstMetric(c.due, prometheus.GaugeValue, float64(s.DueAt.Unix()), p.Name)
	}
}
