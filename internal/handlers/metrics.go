package handlers

import (
	"runtime"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// Metrics are the receiver's own Prometheus metrics, registered on an
// injected registry so tests and several in-process instances never clash.
type Metrics struct {
	Webhooks             *prometheus.CounterVec   // event_type, outcome
	VerificationFailures *prometheus.CounterVec   // reason
	Rejections           *prometheus.CounterVec   // reason
	RequestDuration      *prometheus.HistogramVec // route, code
	CommitDuration       prometheus.Histogram
	BatchEvents          prometheus.Histogram // events per group commit
	BatchDuration        prometheus.Histogram // time per group commit
	StoreErrors          prometheus.Counter
	Cancelled            *prometheus.CounterVec // surface: webhook, api
	SignatureAge         prometheus.Histogram
	SignatureForm        *prometheus.CounterVec // form

	// The webhook path's series, by index (see webhook and form).
	webhooks *children[prometheus.Counter]
	forms    *children[prometheus.Counter]
}

// eventTypeLabels are the values of the event_type label: the documented
// types, then "none" and "other" (eventTypeLabel).
var eventTypeLabels = append(slices.Clone(prolific.EventTypes), "none", "other")

// webhookOutcomes are the values of receiver_webhooks_total's outcome label
// the webhook path uses.
var webhookOutcomes = []string{"stored", "duplicate", "rejected", "cancelled"}

// signatureForms are the values of receiver_signature_form_total's form label.
var signatureForms = []verify.Form{verify.FormRaw, verify.FormPython, verify.FormCompact}

// webhook returns receiver_webhooks_total's counter for a delivery of
// eventType (any string: it is labelled as eventTypeLabel says) and outcome.
func (m *Metrics) webhook(eventType, outcome string) prometheus.Counter {
	t := slices.Index(eventTypeLabels, eventTypeLabel(eventType))
	o := slices.Index(webhookOutcomes, outcome)
	if o < 0 {
		return m.Webhooks.WithLabelValues(eventTypeLabels[t], outcome)
	}
	return m.webhooks.get(t*len(webhookOutcomes) + o)
}

// form returns receiver_signature_form_total's counter for f.
func (m *Metrics) form(f verify.Form) prometheus.Counter {
	if i := slices.Index(signatureForms, f); i >= 0 {
		return m.forms.get(i)
	}
	return m.SignatureForm.WithLabelValues(string(f))
}

// eventTypeLabel keeps the event_type label bounded whatever a sender
// posts: a type Prolific documents, "none", or "other".
func eventTypeLabel(t string) string {
	if slices.Contains(prolific.EventTypes, t) {
		return t
	}
	if t == "" {
		return "none"
	}
	return "other"
}

// NewMetrics registers the receiver's metrics, the Go and process collectors
// and receiver_build_info on reg.
func NewMetrics(reg prometheus.Registerer, version string) *Metrics {
	m := &Metrics{
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_webhooks_total",
			Help: "Webhook deliveries by event type and outcome (stored, duplicate, rejected, cancelled).",
		}, []string{"event_type", "outcome"}),
		VerificationFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_verification_failures_total",
			Help: "Deliveries whose signature or timestamp did not verify, by reason.",
		}, []string{"reason"}),
		Rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_rejections_total",
			Help: "Deliveries answered with an error status, by reason.",
		}, []string{"reason"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "receiver_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by chi route pattern and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "code"}),
		CommitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "receiver_store_commit_duration_seconds",
			Help:    "Time from handing an event to the store until it was durably committed.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		BatchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "receiver_store_batch_events",
			Help:    "Events per group commit: concurrent deliveries that shared one transaction and one fsync.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		BatchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "receiver_store_batch_duration_seconds",
			Help:    "Time one group commit took in the database, from its first statement to its commit (on SQLite the log's fsync follows, overlapping the next commit; receiver_store_commit_duration_seconds includes it).",
			Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		StoreErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "receiver_store_errors_total",
			Help: "Events that could not be stored (answered 503 so Prolific retries).",
		}),
		Cancelled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_requests_cancelled_total",
			Help: "Requests whose client went away (hung up or timed out) before the store answered, by surface (webhook, api); not store errors.",
		}, []string{"surface"}),
		SignatureAge: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "receiver_signature_age_seconds",
			Help:    "Age of X-Prolific-Request-Timestamp on verified deliveries (negative ages count as 0).",
			Buckets: []float64{1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 26 * 3600},
		}),
		SignatureForm: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_signature_form_total",
			Help: "Verified deliveries by the signed form that matched (raw, python, compact).",
		}, []string{"form"}),
	}
	m.webhooks = newChildren(len(eventTypeLabels)*len(webhookOutcomes), func(i int) prometheus.Counter {
		return m.Webhooks.WithLabelValues(eventTypeLabels[i/len(webhookOutcomes)], webhookOutcomes[i%len(webhookOutcomes)])
	})
	m.forms = newChildren(len(signatureForms), func(i int) prometheus.Counter {
		return m.SignatureForm.WithLabelValues(string(signatureForms[i]))
	})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "receiver_build_info",
		Help: "Build information; the value is always 1.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(m.Webhooks, m.VerificationFailures, m.Rejections, m.RequestDuration,
		m.CommitDuration, m.BatchEvents, m.BatchDuration, m.StoreErrors, m.Cancelled, m.SignatureAge, m.SignatureForm, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveCommit records one group commit (store.Options.ObserveCommit).
// Failed commits count too: an outage shows as commits of one event each
// during isolation, and their duration as the time to fail.
func (m *Metrics) ObserveCommit(events int, took time.Duration, _ error) {
	m.BatchEvents.Observe(float64(events))
	m.BatchDuration.Observe(took.Seconds())
}
