package rules

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the rules engine's (docs/rules.md "Metrics").
type Metrics struct {
	actions *prometheus.CounterVec
}

// NewMetrics registers receiver_rule_actions_total on reg (nil: not
// registered, for tools and tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{actions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "receiver_rule_actions_total",
		Help: "Rule actions by rule, action and outcome (dry-run, done, failed, skipped; retried counts failed attempts to be retried) on this replica.",
	}, []string{"rule", "action", "outcome"})}
	if reg != nil {
		reg.MustRegister(m.actions)
	}
	return m
}

// init creates every rule's series at zero, so increase() and the alert see
// the first failure.
func (m *Metrics) init(cfg *Config) {
	for _, r := range cfg.Rules {
		for _, o := range []string{"dry-run", "done", "failed", "skipped", "retried"} {
			m.actions.WithLabelValues(r.Name, r.Action.Type, o)
		}
	}
}

func (m *Metrics) count(rule, action, outcome string, n int) {
	m.actions.WithLabelValues(rule, action, outcome).Add(float64(n))
}
