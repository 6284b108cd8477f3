package enrich_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/enrich"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

const (
	apiToken  = "test-api-token-7f3a9c"
	workspace = "ws-1"
)

// openStore opens a SQLite store at path (a fresh file in t.TempDir() when
// empty) with enrichment on; the test closes it at the end.
func openStore(t *testing.T, path string, opts store.Options) *sqlite.DB {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "receiver.db")
	}
	opts.Enrich = true
	db, err := sqlite.Open(path, opts)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// newFake starts a fake Prolific that accepts apiToken for workspace.
func newFake(t *testing.T, opts prolifictest.Options) *prolifictest.Fake {
	t.Helper()
	opts.Tokens = append(opts.Tokens, apiToken)
	opts.Workspaces = append(opts.Workspaces, workspace)
	f := prolifictest.New(opts)
	f.Start()
	t.Cleanup(f.Close)
	return f
}

// newClient is a Prolific client for f without its own retries, so the
// worker's back-off is what the tests see.
func newClient(f *prolifictest.Fake, opts ...prolific.Option) *prolific.Client {
	opts = append([]prolific.Option{prolific.WithRetry(0, 0, 0), prolific.WithTimeout(5 * time.Second)}, opts...)
	return prolific.New(f.URL(), apiToken, opts...)
}

// fastOptions are worker options scaled down for tests.
func fastOptions() enrich.Options {
	return enrich.Options{
		PollInterval:   10 * time.Millisecond,
		RatePerSecond:  1000,
		Burst:          100,
		Lease:          time.Hour,
		BackoffBase:    10 * time.Millisecond,
		BackoffMax:     200 * time.Millisecond,
		RateLimitPause: 50 * time.Millisecond,
	}
}

// start runs w until the returned stop is called (or the test ends); stop
// waits for Run to return and fails the test if it returned an error.
func start(t *testing.T, w *enrich.Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			testkit.Stopped(t, done, "Run", 10*time.Second)
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds or the timeout ends.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, what, timeout, 5*time.Millisecond, cond)
}

// waitEmpty waits until the store's queue is empty.
func waitEmpty(t *testing.T, db *sqlite.DB, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "an empty enrichment queue", func() bool {
		st, err := db.QueueStats(context.Background())
		if err != nil {
			t.Fatalf("QueueStats: %v", err)
		}
		return st.Depth == 0
	})
}

var eventSeq atomic.Int64

// studyEvent is a stored-form study webhook.
func studyEvent(eventType, studyID, status string, at time.Time) *store.Event {
	body := fmt.Sprintf(`{"resource_id": %q, "event_type": %q, "metadata": {}, "status": %q}`, studyID, eventType, status)
	return event(eventType, studyID, status, "", studyID, body, at)
}

// submissionEvent is a stored-form submission.status.change webhook; the
// receiver does not know the submission's study.
func submissionEvent(subID, participant, status string, at time.Time) *store.Event {
	body := fmt.Sprintf(`{"resource_id": %q, "event_type": "submission.status.change", "participant_id": %q, "status": %q}`,
		subID, participant, status)
	return event("submission.status.change", subID, status, participant, "", body, at)
}

func event(eventType, resource, status, participant, studyID, body string, at time.Time) *store.Event {
	id := fmt.Sprintf("evt-%d", eventSeq.Add(1))
	sum := sha256.Sum256([]byte(id + body))
	return &store.Event{
		ID: id, Type: eventType, ResourceID: resource, Status: status, ParticipantID: participant, StudyID: studyID,
		EventTime: at, ReceivedAt: at, SignatureForm: "raw", ContentHash: hex.EncodeToString(sum[:]), Body: []byte(body),
	}
}

func save(t *testing.T, db *sqlite.DB, e *store.Event) {
	t.Helper()
	if _, err := db.Save(context.Background(), e); err != nil {
		t.Fatalf("Save(%s %s): %v", e.Type, e.ResourceID, err)
	}
}

// saveSubmissions stores one submission.status.change for each submission
// of subs, none naming its study (as Prolific sends them), a millisecond
// apart after at.
func saveSubmissions(t *testing.T, db *sqlite.DB, subs map[string]string, at time.Time) {
	t.Helper()
	i := 0
	for sub, status := range subs {
		i++
		save(t, db, submissionEvent(sub, "participant-"+sub, status, at.Add(time.Duration(i)*time.Millisecond)))
	}
}

// checkStudies fails unless every submission of subs is stored with study.
func checkStudies(t *testing.T, db *sqlite.DB, study string, subs map[string]string) {
	t.Helper()
	for sub := range subs {
		s, err := db.Submission(context.Background(), sub)
		if err != nil {
			t.Fatalf("Submission(%s): %v", sub, err)
		}
		if s.StudyID != study {
			t.Errorf("Submission(%s).StudyID = %q, want %q", sub, s.StudyID, study)
		}
	}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock(t time.Time) *clock        { return &clock{t: t} }

// filterCounts drops zero counts and TOTAL, so API and projection counts compare.
func filterCounts(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v != 0 && k != "TOTAL" {
			out[k] = v
		}
	}
	return out
}
