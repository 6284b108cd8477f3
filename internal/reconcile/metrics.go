package reconcile

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// Outcomes, the outcome label of receiver_reconcile_events_total.
const (
	outcomeStored  = "stored"  // written now
	outcomePresent = "present" // the store held it already
	outcomeInvalid = "invalid" // a delivery-log entry that is not a readable Prolific event
	outcomeError   = "error"   // the store refused it
)

// Failure reasons, the reason label of receiver_reconcile_failures_total.
const (
	reasonRateLimited  = "rate_limited"
	reasonUnauthorized = "unauthorized"
	reasonServerError  = "server_error"
	reasonMalformed    = "malformed"
	reasonOther        = "other"
)

// Metrics are the reconciler's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	events      *prometheus.CounterVec
	corrections *prometheus.CounterVec
	failures    *prometheus.CounterVec
	lastSuccess prometheus.Gauge

	mu   sync.Mutex
	last float64 // lastSuccess's value
}

// NewMetrics registers on reg: receiver_reconcile_events_total{source,outcome},
// receiver_reconcile_corrections_total{kind},
// receiver_reconcile_failures_total{reason} and
// receiver_reconcile_last_success_timestamp_seconds.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_reconcile_events_total",
			Help: "Events the reconciler handled, by source (api: backfilled from Prolific's delivery log; " +
				"reconcile: synthetic corrections) and outcome (stored, present, invalid, error).",
		}, []string{"source", "outcome"}),
		corrections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_reconcile_corrections_total",
			Help: "Submissions and studies whose stored status differed from Prolific's API and was corrected, by kind.",
		}, []string{"kind"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_reconcile_failures_total",
			Help: "Reconciliation steps that failed, by reason (rate_limited, unauthorized, server_error, malformed, other).",
		}, []string{"reason"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "receiver_reconcile_last_success_timestamp_seconds",
			Help: "When the last full reconciliation pass (by any replica) succeeded, as a UNIX time; 0 if never.",
		}),
	}
	for _, src := range []string{store.SourceAPI, store.SourceReconcile} {
		for _, o := range []string{outcomeStored, outcomePresent, outcomeInvalid, outcomeError} {
			if src == store.SourceReconcile && o == outcomeInvalid {
				continue
			}
			m.events.WithLabelValues(src, o)
		}
	}
	for _, k := range []string{KindSubmission, KindStudy} {
		m.corrections.WithLabelValues(k)
	}
	for _, r := range []string{reasonRateLimited, reasonUnauthorized, reasonServerError, reasonMalformed, reasonOther} {
		m.failures.WithLabelValues(r)
	}
	reg.MustRegister(m.events, m.corrections, m.failures, m.lastSuccess)
	return m
}

func (m *Metrics) event(source, outcome string) {
	if m != nil {
		m.events.WithLabelValues(source, outcome).Inc()
	}
}

func (m *Metrics) corrected(kind string) {
	if m != nil {
		m.corrections.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) succeeded(at time.Time) {
	if m != nil {
		m.setLastSuccess(at)
	}
}

// setLastSuccess moves the gauge forward to at.
func (m *Metrics) setLastSuccess(at time.Time) {
	if m == nil || at.IsZero() {
		return
	}
	v := float64(at.UnixNano()) / 1e9
	m.mu.Lock()
	defer m.mu.Unlock()
	if v > m.last {
		m.last = v
		m.lastSuccess.Set(v)
	}
}

// isDecodeError reports whether err is a JSON response that could not be read.
func isDecodeError(err error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syntax) || errors.As(err, &typ)
}

// failure counts err under its reason (each error joined in it once).
func (m *Metrics) failure(err error) {
	if m == nil || err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			m.failure(e)
		}
		return
	}
	m.failures.WithLabelValues(reason(err)).Inc()
}

// reason classifies an error for receiver_reconcile_failures_total.
func reason(err error) string {
	var apiErr *prolific.APIError
	switch {
	case errors.Is(err, prolific.ErrRateLimited):
		return reasonRateLimited
	case errors.Is(err, prolific.ErrUnauthorized):
		return reasonUnauthorized
	case errors.As(err, &apiErr) && apiErr.StatusCode >= http.StatusInternalServerError:
		return reasonServerError
	case errors.Is(err, prolific.ErrMalformed), isDecodeError(err):
		return reasonMalformed
	}
	return reasonOther
}
