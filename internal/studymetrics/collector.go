// Package studymetrics exports every recently active study's progress as
// Prometheus metrics. The values are read from the store at scrape time, so
// every replica on one database exports the same numbers, and only studies
// seen within the retention window are exported, which bounds the series.
package studymetrics

import (
	"context"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// Lister lists studies; store.Store satisfies it.
type Lister interface {
	Studies(ctx context.Context, f store.StudyFilter) ([]store.Study, error)
}

// DefaultTimeout bounds the store read made at each scrape.
const DefaultTimeout = 3 * time.Second

// StudyStatuses are the study statuses always exported by
// prolific_study_status (0 or 1), in lifecycle order; a status outside this
// list is exported too while a study holds it.
var StudyStatuses = prolific.StudyStatuses

// SubmissionStatuses are the submission statuses always exported by
// prolific_study_submissions (0 when none); others are exported when counted.
var SubmissionStatuses = prolific.SubmissionStatuses

// Collector is a prometheus.Collector for study progress. Build it with New.
type Collector struct {
	lister    Lister
	retention time.Duration
	now       func() time.Time

	// Log receives store errors met while scraping (the first of each
	// outage); the zero value discards them.
	Log zerolog.Logger
	// Timeout bounds the store read; New sets DefaultTimeout.
	Timeout time.Duration

	down atomic.Bool

	placesTaken, placesTotal, status, submissions, lastEvent, highReturn, up *prometheus.Desc
}

// New returns a collector exporting the studies lister holds whose last
// event or update is within retention of now (nil now means time.Now;
// retention <= 0 exports every study).
func New(lister Lister, retention time.Duration, now func() time.Time) *Collector {
	if now == nil {
		now = time.Now
	}
	d := prometheus.NewDesc
	return &Collector{
		lister: lister, retention: retention, now: now, Log: zerolog.Nop(), Timeout: DefaultTimeout,
		placesTaken: d("prolific_study_places_taken",
			"Places taken in the study (started submissions, excluding returned and timed-out), from Prolific's API.",
			[]string{"study_id", "study_name"}, nil),
		placesTotal: d("prolific_study_total_available_places",
			"Total available places in the study, from Prolific's API.", []string{"study_id", "study_name"}, nil),
		status: d("prolific_study_status",
			"1 for the study's current status, 0 for the other statuses.", []string{"study_id", "status"}, nil),
		submissions: d("prolific_study_submissions",
			"The study's submissions by status.", []string{"study_id", "status"}, nil),
		lastEvent: d("prolific_study_last_event_timestamp_seconds",
			"Unix time (X-Timestamp) of the newest webhook about the study.", []string{"study_id"}, nil),
		highReturn: d("prolific_study_high_return_rate_events_total",
			"study.has_high_return_rate webhooks received for the study.", []string{"study_id"}, nil),
		up: d("prolific_study_metrics_up",
			"1 when the study metrics could be read from the store at this scrape, else 0.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.placesTaken, c.placesTotal, c.status, c.submissions, c.lastEvent, c.highReturn, c.up} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. When the store cannot answer it
// exports only prolific_study_metrics_up 0, so the rest of /metrics still
// works and the failure can be alerted on.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	var f store.StudyFilter
	if c.retention > 0 {
		f.SeenSince = c.now().Add(-c.retention)
	}
	studies, err := c.lister.Studies(ctx, f)
	if err != nil {
		if !c.down.Swap(true) {
			c.Log.Warn().Err(err).Msg("study metrics: listing studies failed")
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	c.down.Store(false)
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, s := range studies {
		c.collectStudy(ch, s)
	}
}

func (c *Collector) collectStudy(ch chan<- prometheus.Metric, s store.Study) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.placesTaken, float64(s.PlacesTaken), s.ID, s.Name)
	gauge(c.placesTotal, float64(s.PlacesTotal), s.ID, s.Name)
	for _, st := range withExtra(StudyStatuses, s.Status) {
		gauge(c.status, boolValue(st == s.Status), s.ID, st)
	}
	extra := make([]string, 0, len(s.SubmissionCounts))
	for st := range s.SubmissionCounts {
		extra = append(extra, st)
	}
	sort.Strings(extra)
	for _, st := range withExtra(SubmissionStatuses, extra...) {
		gauge(c.submissions, float64(s.SubmissionCounts[st]), s.ID, st)
	}
	if !s.LastEventAt.IsZero() {
		gauge(c.lastEvent, float64(s.LastEventAt.UnixNano())/1e9, s.ID)
	}
	ch <- prometheus.MustNewConstMetric(c.highReturn, prometheus.CounterValue, float64(s.HighReturnRateEvents), s.ID)
}

// withExtra returns known followed by the non-empty extras it lacks.
func withExtra(known []string, extras ...string) []string {
	out := known
	for _, e := range extras {
		if e == "" || slices.Contains(out, e) {
			continue
		}
		if len(out) == len(known) {
			out = append([]string(nil), known...)
		}
		out = append(out, e)
	}
	return out
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
