package outputs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/store"
)

// StateReader lists the outputs' standing; store.Store satisfies it.
type StateReader interface {
	OutputStates(ctx context.Context) ([]store.OutputState, error)
}

// Metrics counts the workers' deliveries and exports each output's
// outbox, read from the store at scrape time (so every replica on one
// database exports the same gauges). The output label's values are the
// configured outputs' names: bounded by the file.
type Metrics struct {
	deliveredTotal, retriedTotal, deadLetteredTotal *prometheus.CounterVec
	latency                                         *prometheus.HistogramVec
}

// NewMetrics registers the output metrics on reg; the gauges read states
// at each scrape, for the outputs named (others registered in the store
// but no longer configured are left out).
func NewMetrics(reg prometheus.Registerer, states StateReader, names []string, now func() time.Time, log zerolog.Logger) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		deliveredTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_output_delivered_total",
			Help: "Events an output's destination accepted (2xx, or a JetStream ack).",
		}, []string{"output"}),
		retriedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_output_retried_total",
			Help: "Failed delivery attempts that were scheduled to be retried.",
		}, []string{"output"}),
		deadLetteredTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_output_dead_lettered_total",
			Help: "Events moved to an output's dead letters (undelivered after max_age, or pruned).",
		}, []string{"output"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "receiver_output_latency_seconds",
			Help:    "Time from receiving an event to its destination accepting it.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600},
		}, []string{"output"}),
	}
	for _, n := range names {
		m.deliveredTotal.WithLabelValues(n)
		m.retriedTotal.WithLabelValues(n)
		m.deadLetteredTotal.WithLabelValues(n)
	}
	reg.MustRegister(m.deliveredTotal, m.retriedTotal, m.deadLetteredTotal, m.latency,
		&stateCollector{states: states, names: names, now: now, log: log,
			pending: prometheus.NewDesc("receiver_output_pending",
				"Events queued for the output and not yet delivered or dead-lettered.", []string{"output"}, nil),
			oldest: prometheus.NewDesc("receiver_output_oldest_pending_age_seconds",
				"Age of the output's oldest pending event (0 when none).", []string{"output"}, nil),
			dead: prometheus.NewDesc("receiver_output_dead_letters",
				"Events in the output's dead letters now.", []string{"output"}, nil),
			paused: prometheus.NewDesc("receiver_output_paused",
				"1 while an operator paused the output.", []string{"output"}, nil),
			disabled: prometheus.NewDesc("receiver_output_disabled",
				"1 while the output is disabled (its destination answered 410 Gone).", []string{"output"}, nil),
			up: prometheus.NewDesc("receiver_output_metrics_up",
				"1 when the outputs' state could be read from the store at this scrape, else 0.", nil, nil),
		})
	return m
}

func (m *Metrics) delivered(output string, latency time.Duration) {
	m.deliveredTotal.WithLabelValues(output).Inc()
	m.latency.WithLabelValues(output).Observe(max(0, latency.Seconds()))
}

func (m *Metrics) retried(output string)      { m.retriedTotal.WithLabelValues(output).Inc() }
func (m *Metrics) deadLettered(output string) { m.deadLetteredTotal.WithLabelValues(output).Inc() }

// stateCollector exports the outbox gauges from the store at scrape time.
type stateCollector struct {
	states StateReader
	names  []string
	now    func() time.Time
	log    zerolog.Logger

	pending, oldest, dead, paused, disabled, up *prometheus.Desc
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pending, c.oldest, c.dead, c.paused, c.disabled, c.up} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	states, err := c.states.OutputStates(ctx)
	if err != nil {
		c.log.Warn().Err(err).Msg("output metrics: reading the outbox failed")
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	byName := map[string]store.OutputState{}
	for _, s := range states {
		byName[s.Name] = s
	}
	now := c.now()
	gauge := func(d *prometheus.Desc, v float64, name string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, name)
	}
	for _, n := range c.names {
		s := byName[n]
		age := 0.0
		if !s.OldestPending.IsZero() {
			age = max(0, now.Sub(s.OldestPending).Seconds())
		}
		gauge(c.pending, float64(s.Pending), n)
		gauge(c.oldest, age, n)
		gauge(c.dead, float64(s.DeadLetters), n)
		gauge(c.paused, boolFloat(s.Paused), n)
		gauge(c.disabled, boolFloat(s.Disabled != ""), n)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
