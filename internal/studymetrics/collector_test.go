package studymetrics_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/studymetrics"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

// listerFunc is a hand-written Lister.
type listerFunc func(ctx context.Context, f store.StudyFilter) ([]store.Study, error)

func (l listerFunc) Studies(ctx context.Context, f store.StudyFilter) ([]store.Study, error) {
	return l(ctx, f)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedStudies() []store.Study {
	return []store.Study{
		{
			ID: "s1", Name: "Memory task", Status: "ACTIVE", PlacesTaken: 12, PlacesTotal: 40,
			SubmissionCounts:     map[string]int{"ACTIVE": 3, "AWAITING REVIEW": 9, "RETURNED": 2},
			HighReturnRateEvents: 1, LastEventAt: t0.Add(-90 * time.Second),
		},
		{
			// Not yet enriched, in a status outside the known list, never
			// seen by a webhook (no last-event series).
			ID: "s2", Status: "ODD", SubmissionCounts: map[string]int{"NEW STATUS": 1},
		},
	}
}

const fixedExposition = `
# HELP prolific_study_high_return_rate_events_total study.has_high_return_rate webhooks received for the study.
# TYPE prolific_study_high_return_rate_events_total counter
prolific_study_high_return_rate_events_total{study_id="s1"} 1
prolific_study_high_return_rate_events_total{study_id="s2"} 0
# HELP prolific_study_last_event_timestamp_seconds Unix time (X-Timestamp) of the newest webhook about the study.
# TYPE prolific_study_last_event_timestamp_seconds gauge
prolific_study_last_event_timestamp_seconds{study_id="s1"} 1.77236631e+09
# HELP prolific_study_metrics_up 1 when the study metrics could be read from the store at this scrape, else 0.
# TYPE prolific_study_metrics_up gauge
prolific_study_metrics_up 1
# HELP prolific_study_places_taken Places taken in the study (started submissions, excluding returned and timed-out), from Prolific's API.
# TYPE prolific_study_places_taken gauge
prolific_study_places_taken{study_id="s1",study_name="Memory task"} 12
prolific_study_places_taken{study_id="s2",study_name=""} 0
# HELP prolific_study_total_available_places Total available places in the study, from Prolific's API.
# TYPE prolific_study_total_available_places gauge
prolific_study_total_available_places{study_id="s1",study_name="Memory task"} 40
prolific_study_total_available_places{study_id="s2",study_name=""} 0
# HELP prolific_study_status 1 for the study's current status, 0 for the other statuses.
# TYPE prolific_study_status gauge
prolific_study_status{status="ACTIVE",study_id="s1"} 1
prolific_study_status{status="ACTIVE",study_id="s2"} 0
prolific_study_status{status="AWAITING REVIEW",study_id="s1"} 0
prolific_study_status{status="AWAITING REVIEW",study_id="s2"} 0
prolific_study_status{status="COMPLETED",study_id="s1"} 0
prolific_study_status{status="COMPLETED",study_id="s2"} 0
prolific_study_status{status="ODD",study_id="s2"} 1
prolific_study_status{status="PAUSED",study_id="s1"} 0
prolific_study_status{status="PAUSED",study_id="s2"} 0
prolific_study_status{status="PUBLISHING",study_id="s1"} 0
prolific_study_status{status="PUBLISHING",study_id="s2"} 0
prolific_study_status{status="SCHEDULED",study_id="s1"} 0
prolific_study_status{status="SCHEDULED",study_id="s2"} 0
prolific_study_status{status="UNPUBLISHED",study_id="s1"} 0
prolific_study_status{status="UNPUBLISHED",study_id="s2"} 0
# HELP prolific_study_submissions The study's submissions by status.
# TYPE prolific_study_submissions gauge
prolific_study_submissions{status="ACTIVE",study_id="s1"} 3
prolific_study_submissions{status="ACTIVE",study_id="s2"} 0
prolific_study_submissions{status="APPROVED",study_id="s1"} 0
prolific_study_submissions{status="APPROVED",study_id="s2"} 0
prolific_study_submissions{status="AWAITING REVIEW",study_id="s1"} 9
prolific_study_submissions{status="AWAITING REVIEW",study_id="s2"} 0
prolific_study_submissions{status="NEW STATUS",study_id="s2"} 1
prolific_study_submissions{status="PARTIALLY APPROVED",study_id="s1"} 0
prolific_study_submissions{status="PARTIALLY APPROVED",study_id="s2"} 0
prolific_study_submissions{status="REJECTED",study_id="s1"} 0
prolific_study_submissions{status="REJECTED",study_id="s2"} 0
prolific_study_submissions{status="RESERVED",study_id="s1"} 0
prolific_study_submissions{status="RESERVED",study_id="s2"} 0
prolific_study_submissions{status="RETURNED",study_id="s1"} 2
prolific_study_submissions{status="RETURNED",study_id="s2"} 0
prolific_study_submissions{status="SCREENED OUT",study_id="s1"} 0
prolific_study_submissions{status="SCREENED OUT",study_id="s2"} 0
prolific_study_submissions{status="TIMED-OUT",study_id="s1"} 0
prolific_study_submissions{status="TIMED-OUT",study_id="s2"} 0
`

func TestCollectExposition(t *testing.T) {
	var gotFilter store.StudyFilter
	lister := listerFunc(func(_ context.Context, f store.StudyFilter) ([]store.Study, error) {
		gotFilter = f
		return fixedStudies(), nil
	})
	c := studymetrics.New(lister, 24*time.Hour, func() time.Time { return t0 })
	if err := testutil.CollectAndCompare(c, strings.NewReader(fixedExposition)); err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(-24 * time.Hour); !gotFilter.SeenSince.Equal(want) {
		t.Errorf("StudyFilter.SeenSince = %v, want %v", gotFilter.SeenSince, want)
	}
}

func TestLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(studymetrics.New(listerFunc(func(context.Context, store.StudyFilter) ([]store.Study, error) {
		return fixedStudies(), nil
	}), time.Hour, func() time.Time { return t0 }))
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatalf("GatherAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	promtoolCheck(t, reg)
}

// promtoolCheck runs `promtool check metrics` over reg's exposition
// (testkit.PromtoolCheck).
func promtoolCheck(t *testing.T, reg prometheus.Gatherer) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var b strings.Builder
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("encode: %v", err)
		}
	}
	testkit.PromtoolCheck(t, strings.NewReader(b.String()))
}

func TestStoreErrorKeepsScrapeWorking(t *testing.T) {
	lister := listerFunc(func(context.Context, store.StudyFilter) ([]store.Study, error) {
		return nil, errors.New("database is down")
	})
	c := studymetrics.New(lister, time.Hour, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want := `
# HELP prolific_study_metrics_up 1 when the study metrics could be read from the store at this scrape, else 0.
# TYPE prolific_study_metrics_up gauge
prolific_study_metrics_up 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// clock is a settable clock shared by the store and the collector.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func TestRetentionWithSQLite(t *testing.T) {
	clk := &clock{t: t0}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"), store.Options{Now: clk.Now})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	save := func(id, study string, at time.Time) {
		t.Helper()
		clk.Set(at)
		e := &store.Event{ID: id, Type: "study.status.change", ResourceID: study, StudyID: study, Status: "ACTIVE",
			EventTime: at, ReceivedAt: at, SignatureForm: "raw", ContentHash: id,
			Body: []byte(`{"event_type":"study.status.change","resource_id":"` + study + `","status":"ACTIVE"}`)}
		if _, err := db.Save(context.Background(), e); err != nil {
			t.Fatalf("Save(%s): %v", id, err)
		}
	}
	save("e-old", "old-study", t0)
	save("e-new", "new-study", t0.Add(2*time.Hour))
	clk.Set(t0.Add(150 * time.Minute))

	c := studymetrics.New(db, time.Hour, clk.Now)
	want := `
# HELP prolific_study_total_available_places Total available places in the study, from Prolific's API.
# TYPE prolific_study_total_available_places gauge
prolific_study_total_available_places{study_id="new-study",study_name=""} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "prolific_study_total_available_places"); err != nil {
		t.Error(err)
	}
	if got, want := testutil.CollectAndCount(c, "prolific_study_status"), len(studymetrics.StudyStatuses); got != want {
		t.Errorf("prolific_study_status series = %d, want %d (one study)", got, want)
	}
}
