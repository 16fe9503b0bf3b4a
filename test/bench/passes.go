package main

import (
	"math"

	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// controllerName is the AccessRequest controller's name in
// controller-runtime's metrics.
const controllerName = "accessrequest"

// passCounts is a reading of controller-runtime's own metrics for the
// AccessRequest controller: reconciles by result, and the time keys spent
// waiting in the work queue and being worked on.
type passCounts struct {
	byResult            map[string]float64
	queueSum, queueN    float64
	workSum, workN      float64
	adds, retries, errs float64
	// depth is the work queue's length now (ready keys, all priorities).
	depth float64
}

func readPasses() passCounts {
	p := passCounts{byResult: map[string]float64{}}
	families, err := ctrlmetrics.Registry.Gather()
	must(err, "reading controller-runtime's metrics")
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if label(m.GetLabel(), "controller") != controllerName && label(m.GetLabel(), "name") != controllerName {
				continue
			}
			switch f.GetName() {
			case "controller_runtime_reconcile_total":
				p.byResult[label(m.GetLabel(), "result")] += m.GetCounter().GetValue()
			case "controller_runtime_reconcile_errors_total":
				p.errs += m.GetCounter().GetValue()
			case "workqueue_queue_duration_seconds":
				p.queueSum += m.GetHistogram().GetSampleSum()
				p.queueN += float64(m.GetHistogram().GetSampleCount())
			case "workqueue_work_duration_seconds":
				p.workSum += m.GetHistogram().GetSampleSum()
				p.workN += float64(m.GetHistogram().GetSampleCount())
			case "workqueue_adds_total":
				p.adds += m.GetCounter().GetValue()
			case "workqueue_retries_total":
				p.retries += m.GetCounter().GetValue()
			case "workqueue_depth":
				p.depth += m.GetGauge().GetValue()
			}
		}
	}
	return p
}

// label is the value of a metric's label (client_model's LabelPair, whose
// module this one does not require directly).
func label[L interface {
	GetName() string
	GetValue() string
}](labels []L, name string) string {
	for _, l := range labels {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// since is what happened between p0 and p, per request of a batch of n.
func (p passCounts) since(p0 passCounts, n int) *Passes {
	out := &Passes{ByResult: map[string]float64{}}
	var total float64
	for k, v := range p.byResult {
		if d := v - p0.byResult[k]; d > 0 {
			out.ByResult[k] = d
			total += d
		}
	}
	out.Total = total
	out.PerRequest = round2(total / float64(n))
	out.QueueAdds, out.Requeues, out.Errors = p.adds-p0.adds, p.retries-p0.retries, p.errs-p0.errs
	if dn := p.queueN - p0.queueN; dn > 0 {
		out.MeanQueueMs = round2((p.queueSum - p0.queueSum) / dn * 1000)
	}
	if dn := p.workN - p0.workN; dn > 0 {
		out.MeanWorkMs = round2((p.workSum - p0.workSum) / dn * 1000)
	}
	return out
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
