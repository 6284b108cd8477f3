package enrich

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/store"
)

// QueueStater reports the enrichment queue's depth and oldest job;
// store.Store satisfies it.
type QueueStater interface {
	QueueStats(ctx context.Context) (store.QueueStats, error)
}

// statsTimeout bounds the store read made at each scrape.
const statsTimeout = 2 * time.Second

// Metrics are the enrichment worker's Prometheus metrics. A nil *Metrics
// records nothing.
type Metrics struct {
	jobs *prometheus.CounterVec
	api  *prometheus.CounterVec
}

// NewMetrics registers on reg: receiver_enrichment_jobs_total{kind,result},
// receiver_prolific_api_requests_total{endpoint,code}, and a collector that
// reads q at scrape time for receiver_enrichment_queue_depth and
// receiver_enrichment_lag_seconds, so every replica reports the database's
// truth rather than its own view. log receives store errors met while scraping.
func NewMetrics(reg prometheus.Registerer, q QueueStater, log zerolog.Logger) *Metrics {
	m := &Metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_enrichment_jobs_total",
			Help: "Enrichment jobs processed, by kind and result (ok, retry, dropped).",
		}, []string{"kind", "result"}),
		api: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiver_prolific_api_requests_total",
			Help: "Requests to Prolific's API, by endpoint and HTTP status code (0: no response).",
		}, []string{"endpoint", "code"}),
	}
	for _, kind := range []string{store.JobRefreshStudy, store.JobLookupSubmission} {
		for _, result := range []string{ResultOK, ResultRetry, ResultDropped} {
			m.jobs.WithLabelValues(kind, result)
		}
	}
	reg.MustRegister(m.jobs, m.api, newQueueCollector(q, log, time.Now))
	return m
}

// ObserveAPI counts one request to Prolific; pass it to prolific.WithObserver.
func (m *Metrics) ObserveAPI(endpoint string, code int) {
	if m == nil {
		return
	}
	m.api.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
}

func (m *Metrics) job(kind, result string) {
	if m == nil {
		return
	}
	if kind != store.JobRefreshStudy && kind != store.JobLookupSubmission {
		kind = "other"
	}
	m.jobs.WithLabelValues(kind, result).Inc()
}

// queueCollector reads the queue's stats from the store at scrape time.
type queueCollector struct {
	q     QueueStater
	log   zerolog.Logger
	now   func() time.Time
	depth *prometheus.Desc
	lag   *prometheus.Desc
	down  atomic.Bool // the last read failed; log only the first failure of an outage
}

func newQueueCollector(q QueueStater, log zerolog.Logger, now func() time.Time) *queueCollector {
	return &queueCollector{
		q: q, log: log, now: now,
		depth: prometheus.NewDesc("receiver_enrichment_queue_depth",
			"Enrichment jobs pending or running, read from the store.", nil, nil),
		lag: prometheus.NewDesc("receiver_enrichment_lag_seconds",
			"Age of the oldest queued enrichment job (0 when the queue is empty).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.lag
}

// Collect implements prometheus.Collector. When the store cannot answer it
// logs and reports nothing, so the rest of /metrics keeps working and an
// absent series (absent() in alerts) shows the problem.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	st, err := c.q.QueueStats(ctx)
	if err != nil {
		if !c.down.Swap(true) {
			c.log.Warn().Err(err).Msg("enrichment metrics: reading queue stats failed")
		}
		return
	}
	c.down.Store(false)
	lag := 0.0
	if !st.OldestQueued.IsZero() {
		lag = max(0, c.now().Sub(st.OldestQueued).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(st.Depth))
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, lag)
}
