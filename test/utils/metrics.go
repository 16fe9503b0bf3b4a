package utils

import (
	"github.com/prometheus/client_golang/prometheus"
)

// MetricValue is the value of the counter or gauge sample of the named
// metric whose labels include every given label; found is false when no
// such sample exists.
func MetricValue(g prometheus.Gatherer, name string, labels map[string]string) (value float64, found bool, err error) {
	families, err := g.Gather()
	if err != nil {
		return 0, false, err
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	samples:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue samples
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true, nil
			}
			return m.GetGauge().GetValue(), true, nil
		}
	}
	return 0, false, nil
}
