package testkit

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "x"}, []string{"kind", "result"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "y", Help: "y"})
	reg.MustRegister(c, g)
	c.WithLabelValues("study", "ok").Add(3)
	c.WithLabelValues("study", "retry").Add(2)
	g.Set(7)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
		ok     bool
	}{
		{"x_total", map[string]string{"kind": "study", "result": "retry"}, 2, true},
		{"x_total", map[string]string{"result": "ok"}, 3, true},
		{"x_total", map[string]string{"kind": "submission"}, 0, false},
		{"x_total", map[string]string{"other": "study"}, 0, false},
		{"y", nil, 7, true},
		{"z", nil, 0, false},
	} {
		if got, ok := Metric(t, reg, tc.name, tc.labels); got != tc.want || ok != tc.ok {
			t.Errorf("Metric(%s, %v) = %v, %v; want %v, %v", tc.name, tc.labels, got, ok, tc.want, tc.ok)
		}
	}
}
