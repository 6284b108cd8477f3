package enrich_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/enrich"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

// 429s pause the worker: the study fetches are spaced by the growing pause
// and the job succeeds once Prolific lets it through.
func TestRateLimitedBacksOff(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	fake := newFake(t, prolifictest.Options{Inject: func(r *http.Request) (int, bool) {
		if !strings.HasPrefix(r.URL.Path, "/api/v1/studies/") || strings.Contains(r.URL.Path, "/submissions/") {
			return 0, false
		}
		mu.Lock()
		defer mu.Unlock()
		times = append(times, time.Now())
		if len(times) <= 3 {
			return http.StatusTooManyRequests, true
		}
		return 0, false
	}})
	id, err := fake.CreateStudy(workspace, "", "Throttled", 5)
	if err != nil {
		t.Fatal(err)
	}
	db := openStore(t, "", store.Options{})
	reg := prometheus.NewPedanticRegistry()
	m := enrich.NewMetrics(reg, db, zerolog.Nop())
	opts := fastOptions()
	opts.Metrics = m
	const pause = 60 * time.Millisecond
	opts.RateLimitPause = pause
	opts.BackoffMax = time.Second
	save(t, db, studyEvent("study.status.change", id, "ACTIVE", time.Now()))
	start(t, enrich.New(db, newClient(fake, prolific.WithObserver(m.ObserveAPI)), opts))
	waitEmpty(t, db, 10*time.Second)

	mu.Lock()
	defer mu.Unlock()
	if len(times) != 4 {
		t.Fatalf("study fetches = %d, want 4 (3 rate-limited, then success)", len(times))
	}
	for i := 1; i < len(times); i++ {
		// The pause doubles after each consecutive 429: 60, 120, 240 ms.
		want := pause << (i - 1)
		if gap := times[i].Sub(times[i-1]); gap < want {
			t.Errorf("gap before fetch %d = %v, want at least %v", i+1, gap, want)
		}
	}
	if s, err := db.Study(context.Background(), id); err != nil || s.Name != "Throttled" {
		t.Errorf("Study = %+v, %v; want it refreshed", s, err)
	}
	if got := counterValue(t, reg, "receiver_enrichment_jobs_total", map[string]string{"kind": "study", "result": "retry"}); got != 3 {
		t.Errorf("jobs_total{study,retry} = %v, want 3", got)
	}
	if got := counterValue(t, reg, "receiver_prolific_api_requests_total", map[string]string{"endpoint": "studies.get", "code": "429"}); got != 3 {
		t.Errorf("api_requests_total{studies.get,429} = %v, want 3", got)
	}
}

// A study Prolific does not know is dropped after one try, not retried.
func TestNotFoundDropsJob(t *testing.T) {
	fake := newFake(t, prolifictest.Options{})
	db := openStore(t, "", store.Options{})
	reg := prometheus.NewPedanticRegistry()
	opts := fastOptions()
	opts.Metrics = enrich.NewMetrics(reg, db, zerolog.Nop())
	save(t, db, studyEvent("study.status.change", "no-such-study", "ACTIVE", time.Now()))
	start(t, enrich.New(db, newClient(fake), opts))
	waitEmpty(t, db, 5*time.Second)
	time.Sleep(50 * time.Millisecond) // a few more polls: nothing comes back
	if got := fake.Requests(prolifictest.RouteGetStudy); got != 1 {
		t.Errorf("study fetches = %d, want 1", got)
	}
	if got := counterValue(t, reg, "receiver_enrichment_jobs_total", map[string]string{"kind": "study", "result": "dropped"}); got != 1 {
		t.Errorf("jobs_total{study,dropped} = %v, want 1", got)
	}
	if s, err := db.Study(context.Background(), "no-such-study"); err != nil || !s.RefreshedAt.IsZero() {
		t.Errorf("Study = %+v, %v; want it stored but never refreshed", s, err)
	}
}

// Failures are logged once per attempt, with the error but never the token.
func TestFailureLogsWithoutToken(t *testing.T) {
	fake := newFake(t, prolifictest.Options{})
	id, err := fake.CreateStudy(workspace, "", "Secret-free", 5)
	if err != nil {
		t.Fatal(err)
	}
	const badToken = "wrong-token-0d1e2f"
	db := openStore(t, "", store.Options{})
	var logs testkit.SyncBuffer
	opts := fastOptions()
	opts.Log = zerolog.New(&logs)
	save(t, db, studyEvent("study.status.change", id, "ACTIVE", time.Now()))
	client := prolific.New(fake.URL(), badToken, prolific.WithRetry(0, 0, 0))
	stop := start(t, enrich.New(db, client, opts))
	waitFor(t, 5*time.Second, "three logged failures", func() bool { return strings.Count(logs.String(), "will retry") >= 3 })
	stop()

	out := logs.String()
	for _, secret := range []string{badToken, apiToken} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains the API token %q:\n%s", secret, out)
		}
	}
	// One line per failed attempt: the attempt numbers never repeat, and
	// only a request cut short by the shutdown may go unlogged.
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct {
			Attempt int    `json:"attempt"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		key := fmt.Sprint(rec.Message, rec.Attempt)
		if seen[key] {
			t.Errorf("attempt %d logged %q twice", rec.Attempt, rec.Message)
		}
		seen[key] = true
	}
	lines, requests := strings.Count(out, "will retry"), fake.Requests(prolifictest.RouteGetStudy)
	if lines != requests && lines != requests-1 {
		t.Errorf("failure lines = %d for %d requests, want one per failed request:\n%s", lines, requests, out)
	}
	if !strings.Contains(out, "401") {
		t.Errorf("log lacks the 401 status:\n%s", out)
	}
}

// Two workers on one store never hold the same job at once: the server
// flags a study fetched while a fetch of it is in flight, and every study is
// fetched exactly once.
func TestTwoWorkersNeverShareAJob(t *testing.T) {
	var mu sync.Mutex
	inFlight := map[string]bool{}
	fetches := map[string]int{}
	overlaps := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, "/api/v1/studies/")
		id, tail, _ := strings.Cut(rest, "/")
		mu.Lock()
		switch tail {
		case "": // GET /api/v1/studies/{id}/: the job starts
			if inFlight[id] {
				overlaps++
			}
			inFlight[id] = true
			fetches[id]++
		case "submissions/counts/":
			inFlight[id] = false
		}
		mu.Unlock()
		time.Sleep(3 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		if tail == "" {
			_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "name": "n-" + id, "status": "ACTIVE",
				"total_available_places": 10, "places_taken": 1, "number_of_submissions": 1})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]int{"ACTIVE": 1, "TOTAL": 1})
	}))
	t.Cleanup(srv.Close)

	db := openStore(t, "", store.Options{})
	const studies = 40
	for i := range studies {
		save(t, db, studyEvent("study.status.change", "study-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "ACTIVE", time.Now()))
	}
	for _, owner := range []string{"replica-1", "replica-2"} {
		opts := fastOptions()
		opts.Owner = owner
		opts.Concurrency = 3
		start(t, enrich.New(db, prolific.New(srv.URL, apiToken, prolific.WithRetry(0, 0, 0)), opts))
	}
	waitEmpty(t, db, 10*time.Second)

	mu.Lock()
	defer mu.Unlock()
	if overlaps != 0 {
		t.Errorf("%d fetches of a study whose job was already running, want 0", overlaps)
	}
	if len(fetches) != studies {
		t.Errorf("studies fetched = %d, want %d", len(fetches), studies)
	}
	for id, n := range fetches {
		if n != 1 {
			t.Errorf("study %s fetched %d times, want 1", id, n)
		}
	}
}

// The queue gauges are read from the store at scrape time.
func TestQueueGauges(t *testing.T) {
	db := openStore(t, "", store.Options{Debounce: time.Hour})
	reg := prometheus.NewPedanticRegistry()
	enrich.NewMetrics(reg, db, zerolog.Nop())
	const empty = `
# HELP receiver_enrichment_queue_depth Enrichment jobs pending or running, read from the store.
# TYPE receiver_enrichment_queue_depth gauge
receiver_enrichment_queue_depth 0
# HELP receiver_enrichment_lag_seconds Age of the oldest queued enrichment job (0 when the queue is empty).
# TYPE receiver_enrichment_lag_seconds gauge
receiver_enrichment_lag_seconds 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(empty),
		"receiver_enrichment_queue_depth", "receiver_enrichment_lag_seconds"); err != nil {
		t.Error(err)
	}
	queued := time.Now()
	save(t, db, studyEvent("study.status.change", "s1", "ACTIVE", queued))
	save(t, db, studyEvent("study.status.change", "s2", "ACTIVE", queued))
	save(t, db, studyEvent("study.progress.change", "s2", "", queued)) // debounced into s2's job
	time.Sleep(20 * time.Millisecond)
	if got := counterValue(t, reg, "receiver_enrichment_queue_depth", nil); got != 2 {
		t.Errorf("queue_depth = %v, want 2", got)
	}
	lag := counterValue(t, reg, "receiver_enrichment_lag_seconds", nil)
	if limit := time.Since(queued).Seconds(); lag < 0.02 || lag > limit {
		t.Errorf("lag_seconds = %v, want between 0.02 and %v", lag, limit)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) != 0 {
		t.Errorf("GatherAndLint = %v, %v; want no problems", problems, err)
	}
}
