package enrich_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/enrich"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

// startSweep runs w.Sweep until the test ends and checks that it returns
// nil promptly once cancelled.
func startSweep(t *testing.T, w *enrich.Worker, st enrich.Sweeper, interval, retention time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Sweep(ctx, st, interval, retention) }()
	t.Cleanup(func() {
		cancel()
		testkit.Stopped(t, done, "Sweep", 10*time.Second)
	})
}

// pathCounter counts the fake's requests by URL path.
type pathCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *pathCounter) inject(r *http.Request) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[r.URL.Path]++
	return 0, false
}

func (c *pathCounter) get(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[path]
}

// An ACTIVE study whose progress webhooks were lost is brought up to date
// by the sweep alone; a COMPLETED one is not asked about again.
func TestSweepRefreshesMovingStudies(t *testing.T) {
	paths := &pathCounter{n: map[string]int{}}
	fake := newFake(t, prolifictest.Options{Inject: paths.inject})
	active, err := fake.CreateStudy(workspace, "", "Still running", 10)
	if err != nil {
		t.Fatalf("CreateStudy: %v", err)
	}
	done, err := fake.CreateStudy(workspace, "", "Finished", 10)
	if err != nil {
		t.Fatalf("CreateStudy: %v", err)
	}
	for id, status := range map[string]string{active: prolifictest.StudyActive, done: prolifictest.StudyCompleted} {
		if err := fake.SetStudyStatus(id, status); err != nil {
			t.Fatalf("SetStudyStatus: %v", err)
		}
	}

	db := openStore(t, "", store.Options{Debounce: 10 * time.Millisecond})
	w := enrich.New(db, newClient(fake), fastOptions())
	start(t, w)
	at := time.Now().Add(-time.Minute)
	save(t, db, studyEvent("study.status.change", active, prolifictest.StudyActive, at))
	save(t, db, studyEvent("study.status.change", done, prolifictest.StudyCompleted, at))
	waitEmpty(t, db, 10*time.Second)
	before, err := db.Study(context.Background(), done)
	if err != nil || before.RefreshedAt.IsZero() {
		t.Fatalf("Study(completed) = %+v, %v; want it refreshed once from its webhook", before, err)
	}
	donePath := "/api/v1/studies/" + done + "/"
	doneCalls := paths.get(donePath)

	// Participants join, but their webhooks never arrive.
	for range 3 {
		if _, err := fake.AddSubmission(active); err != nil {
			t.Fatalf("AddSubmission: %v", err)
		}
	}
	want, _ := fake.StudyState(active)
	if want.PlacesTaken != 3 {
		t.Fatalf("fake PlacesTaken = %d, want 3", want.PlacesTaken)
	}

	startSweep(t, w, db, 20*time.Millisecond, time.Hour)
	waitFor(t, 10*time.Second, "the sweep to refresh the active study", func() bool {
		s, err := db.Study(context.Background(), active)
		if err != nil {
			t.Fatalf("Study(active): %v", err)
		}
		return s.PlacesTaken == want.PlacesTaken && s.NumberOfSubmissions == want.NumberOfSubmissions
	})
	// Several more sweeps: the active study keeps being polled, the
	// completed one never is.
	activePath := "/api/v1/studies/" + active + "/"
	polled := paths.get(activePath)
	waitFor(t, 10*time.Second, "another sweep of the active study", func() bool { return paths.get(activePath) > polled })
	if got := paths.get(donePath); got != doneCalls {
		t.Errorf("GET %s after sweeps: %d calls, want %d (COMPLETED is not swept)", donePath, got, doneCalls)
	}
	after, err := db.Study(context.Background(), done)
	if err != nil {
		t.Fatalf("Study(completed): %v", err)
	}
	if !after.RefreshedAt.Equal(before.RefreshedAt) {
		t.Errorf("completed study RefreshedAt = %v, want %v (unchanged)", after.RefreshedAt, before.RefreshedAt)
	}
}

// fakeSweeper is a hand-written Sweeper: fn answers each call.
type fakeSweeper struct {
	mu    sync.Mutex
	calls []sweepCall
	fn    func(call int) (int, error)
}

type sweepCall struct {
	Statuses  []string
	SeenSince time.Time
}

func (f *fakeSweeper) EnqueueStudyRefreshes(_ context.Context, statuses []string, seenSince time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, sweepCall{append([]string(nil), statuses...), seenSince})
	return f.fn(len(f.calls))
}

func (f *fakeSweeper) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// The sweep asks for the statuses that can still change on their own,
// seen within retention, and logs a failure streak once.
func TestSweepArgumentsAndFailureLog(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var logs testkit.SyncBuffer
	opts := fastOptions()
	opts.Now = func() time.Time { return now }
	opts.Log = zerolog.New(&logs).Level(zerolog.DebugLevel)
	w := enrich.New(openStore(t, "", store.Options{}), nil, opts)
	sw := &fakeSweeper{fn: func(call int) (int, error) {
		if call <= 4 {
			return 0, errors.New("database is locked")
		}
		return 2, nil
	}}
	startSweep(t, w, sw, 5*time.Millisecond, 48*time.Hour)
	waitFor(t, 10*time.Second, "six sweeps", func() bool { return sw.count() >= 6 })

	sw.mu.Lock()
	first := sw.calls[0]
	sw.mu.Unlock()
	want := sweepCall{
		Statuses:  []string{"ACTIVE", "PAUSED", "AWAITING REVIEW", "SCHEDULED", "PUBLISHING", ""},
		SeenSince: now.Add(-48 * time.Hour),
	}
	if d := cmp.Diff(want, first); d != "" {
		t.Errorf("sweep arguments mismatch (-want +got):\n%s", d)
	}
	out := logs.String()
	for msg, n := range map[string]int{"polling sweep failed": 1, "polling sweep works again": 1} {
		if got := strings.Count(out, msg); got != n {
			t.Errorf("log lines with %q = %d, want %d; log:\n%s", msg, got, n, out)
		}
	}
	if !strings.Contains(out, `"queued":2`) {
		t.Errorf("log lacks the debug count of queued refreshes; log:\n%s", out)
	}
}

// A zero interval disables the sweep: Sweep returns at once.
func TestSweepDisabled(t *testing.T) {
	w := enrich.New(openStore(t, "", store.Options{}), nil, fastOptions())
	sw := &fakeSweeper{fn: func(int) (int, error) { return 0, nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Sweep(ctx, sw, 0, time.Hour); err != nil || ctx.Err() != nil {
		t.Errorf("Sweep(interval 0) = %v after %v; want nil at once", err, ctx.Err())
	}
	if n := sw.count(); n != 0 {
		t.Errorf("Sweep(interval 0) swept %d times, want 0", n)
	}
}
