package rules

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// GatherSignals returns a Signals function reading the receiver's own
// metrics from g: a subscription disabled (receiver_subscription_enabled
// 0), deliveries failing (Prolific's log shows failed deliveries to the
// receiver, or an output is disabled or holds dead letters).
func GatherSignals(g prometheus.Gatherer) func() []Signal {
	return func() []Signal {
		families, err := g.Gather()
		if err != nil && len(families) == 0 {
			return nil
		}
		var out []Signal
		for _, f := range families {
			for _, m := range f.GetMetric() {
				v := value(m)
				switch f.GetName() {
				case "receiver_subscription_enabled":
					if v == 0 {
						out = append(out, Signal{Name: SignalSubscriptionDisabled, Resource: label(m, "event_type"),
							Text: "Prolific's webhook subscription is disabled"})
					}
				case "receiver_prolific_failed_deliveries":
					if v > 0 {
						out = append(out, Signal{Name: SignalDeliveriesFailing, Resource: "prolific",
							Text: "Prolific's delivery log shows failed deliveries to the receiver"})
					}
				case "receiver_output_disabled":
					if v > 0 {
						out = append(out, Signal{Name: SignalDeliveriesFailing, Resource: "output " + label(m, "output"),
							Text: "an output's destination disabled it (410 Gone)"})
					}
				case "receiver_output_dead_letters":
					if v > 0 {
						out = append(out, Signal{Name: SignalDeliveriesFailing, Resource: "output " + label(m, "output"),
							Text: "an output holds dead letters"})
					}
				}
			}
		}
		return out
	}
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
