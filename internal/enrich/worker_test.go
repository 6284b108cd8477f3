package enrich_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/enrich"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

// A simulated study, its webhooks mirrored into the store, ends with the
// store holding the fake's own numbers: submissions are looked up, which
// queues the study refresh, which records places, counts and status.
func TestSimulatedStudyMatchesFake(t *testing.T) {
	fake := newFake(t, prolifictest.Options{})
	res, err := fake.SimulateStudy(context.Background(), prolifictest.SimConfig{
		WorkspaceID: workspace, Name: "Simulated memory task", Places: 15,
		ReturnRate: 0.2, TimeoutRate: 0.1, RejectRate: 0.2, Seed: 7,
	})
	if err != nil {
		t.Fatalf("SimulateStudy: %v", err)
	}
	want, ok := fake.StudyState(res.StudyID)
	if !ok {
		t.Fatalf("StudyState(%s): not found", res.StudyID)
	}

	db := openStore(t, "", store.Options{Debounce: 20 * time.Millisecond})
	reg := prometheus.NewPedanticRegistry()
	m := enrich.NewMetrics(reg, db, zerolog.Nop())
	opts := fastOptions()
	opts.Metrics = m
	start(t, enrich.New(db, newClient(fake, prolific.WithObserver(m.ObserveAPI)), opts))

	at := time.Now().Add(-time.Minute)
	save(t, db, studyEvent("study.status.change", res.StudyID, "ACTIVE", at))
	saveSubmissions(t, db, want.Submissions, at)
	save(t, db, studyEvent("study.status.change", res.StudyID, want.Status, at.Add(time.Second)))
	waitEmpty(t, db, 10*time.Second)

	got, err := db.Study(context.Background(), res.StudyID)
	if err != nil {
		t.Fatalf("Study: %v", err)
	}
	if got.RefreshedAt.IsZero() {
		t.Fatalf("study never refreshed from the API")
	}
	type view struct {
		Name, Status                                  string
		PlacesTaken, PlacesTotal, NumberOfSubmissions int
		Counts                                        map[string]int
	}
	gotView := view{got.Name, got.Status, got.PlacesTaken, got.PlacesTotal, got.NumberOfSubmissions, filterCounts(got.SubmissionCounts)}
	wantView := view{want.Name, want.Status, want.PlacesTaken, want.TotalAvailablePlaces, want.NumberOfSubmissions, filterCounts(want.Counts)}
	if diff := cmp.Diff(wantView, gotView); diff != "" {
		t.Errorf("store's study vs fake's (-want +got):\n%s", diff)
	}
	checkStudies(t, db, res.StudyID, want.Submissions)
	if got, max := fake.Requests(prolifictest.RouteGetSubmission), len(want.Submissions); got >= max {
		t.Errorf("submission lookups = %d, want fewer than one per submission (%d): the study's listing covers the rest", got, max)
	}
	if got := counterValue(t, reg, "receiver_enrichment_jobs_total", map[string]string{"kind": "submission", "result": "ok"}); got != float64(len(want.Submissions)) {
		t.Errorf("jobs_total{kind=submission,result=ok} = %v, want %d", got, len(want.Submissions))
	}
	if got := counterValue(t, reg, "receiver_prolific_api_requests_total", map[string]string{"endpoint": "studies.get", "code": "200"}); got < 1 {
		t.Errorf("api_requests_total{studies.get,200} = %v, want >= 1", got)
	}
}

// 500 progress events for one study inside the debounce window make one job:
// one study fetch and one counts fetch. The store's clock is held still, so
// the window cannot close while the events are saved.
func TestDebounceBurst(t *testing.T) {
	fake := newFake(t, prolifictest.Options{})
	studyID, err := fake.CreateStudy(workspace, "", "Burst", 500)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock(time.Now())
	db := openStore(t, "", store.Options{Debounce: time.Minute, Now: clk.Now})
	start(t, enrich.New(db, newClient(fake), fastOptions()))

	var wg sync.WaitGroup
	for g := range 25 {
		wg.Go(func() {
			for i := range 20 {
				e := studyEvent("study.progress.change", studyID, "", clk.Now().Add(time.Duration(g*20+i)*time.Microsecond))
				if _, err := db.Save(context.Background(), e); err != nil {
					t.Errorf("Save: %v", err)
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond) // several poll intervals: nothing is due yet
	if got := fake.Requests(prolifictest.RouteGetStudy); got != 0 {
		t.Fatalf("study fetched %d times inside the debounce window, want 0", got)
	}
	clk.Advance(time.Minute + time.Second)
	waitEmpty(t, db, 10*time.Second)

	total := fake.Requests(prolifictest.RouteGetStudy) + fake.Requests(prolifictest.RouteCountStudySubmission)
	if got := fake.Requests(prolifictest.RouteGetStudy); got != 1 || total > 3 {
		t.Errorf("after 500 events: %d study fetches, %d API calls in all; want 1 and at most 3", got, total)
	}
	s, err := db.Study(context.Background(), studyID)
	if err != nil || s.Name != "Burst" || s.PlacesTotal != 500 {
		t.Errorf("Study = %+v, %v; want name Burst, 500 places", s, err)
	}
}

// A worker stopped while holding jobs hands them back; a new worker on the
// reopened database finishes them. Leases are an hour long, so only the
// release (not lease expiry) lets the second worker in.
func TestResumeAfterRestart(t *testing.T) {
	gate := make(chan struct{})
	var blocking sync.Mutex
	blocked := true
	fake := newFake(t, prolifictest.Options{Inject: func(r *http.Request) (int, bool) {
		blocking.Lock()
		b := blocked
		blocking.Unlock()
		if b && strings.HasPrefix(r.URL.Path, "/api/v1/studies/") {
			select {
			case <-gate:
			case <-r.Context().Done():
			}
		}
		return 0, false
	}})
	var ids []string
	for i := range 6 {
		id, err := fake.CreateStudy(workspace, "", "Study "+string(rune('A'+i)), 10+i)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	path := t.TempDir() + "/receiver.db"
	db1 := openStore(t, path, store.Options{})
	for _, id := range ids {
		save(t, db1, studyEvent("study.status.change", id, "ACTIVE", time.Now()))
	}
	stop := start(t, enrich.New(db1, newClient(fake), fastOptions()))
	waitFor(t, 5*time.Second, "two blocked study fetches", func() bool { return fake.Requests(prolifictest.RouteGetStudy) >= 2 })
	stop()
	if err := db1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	blocking.Lock()
	blocked = false
	blocking.Unlock()
	close(gate)
	db2 := openStore(t, path, store.Options{})
	st, err := db2.QueueStats(context.Background())
	if err != nil || st.Depth != len(ids) {
		t.Fatalf("after restart QueueStats = %+v, %v; want depth %d", st, err, len(ids))
	}
	start(t, enrich.New(db2, newClient(fake), fastOptions()))
	waitEmpty(t, db2, 10*time.Second)
	for i, id := range ids {
		s, err := db2.Study(context.Background(), id)
		if err != nil || s.RefreshedAt.IsZero() || s.PlacesTotal != 10+i {
			t.Errorf("Study(%s) = %+v, %v; want refreshed with %d places", id, s, err, 10+i)
		}
	}
}

// A job leased by a worker that died is taken over once its lease expires.
func TestExpiredLeaseIsReclaimed(t *testing.T) {
	fake := newFake(t, prolifictest.Options{})
	id, err := fake.CreateStudy(workspace, "", "Orphan", 3)
	if err != nil {
		t.Fatal(err)
	}
	db := openStore(t, "", store.Options{})
	save(t, db, studyEvent("study.status.change", id, "ACTIVE", time.Now()))
	jobs, err := db.ClaimJobs(context.Background(), "crashed-worker", 10, 200*time.Millisecond)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("ClaimJobs = %v, %v; want one job", jobs, err)
	}
	start(t, enrich.New(db, newClient(fake), fastOptions()))
	waitEmpty(t, db, 5*time.Second)
	if s, err := db.Study(context.Background(), id); err != nil || s.Name != "Orphan" {
		t.Errorf("Study = %+v, %v; want it refreshed", s, err)
	}
}

// counterValue gathers reg and returns the value of name with labels
// (-1 when absent).
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	if v, ok := testkit.Metric(t, reg, name, labels); ok {
		return v
	}
	return -1
}
