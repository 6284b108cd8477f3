package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// fakePruner plays a store holding left old events; each call deletes up
// to limit of them, or fails with the next error in errs. Its rule actions
// are acts, another fakePruner (none when nil).
type fakePruner struct {
	mu      sync.Mutex
	left    int
	errs    []error
	limits  []int
	befores []time.Time
	acts    *fakePruner
}

func (f *fakePruner) PruneActions(ctx context.Context, before time.Time, limit int) (int, error) {
	if f.acts == nil {
		return 0, nil
	}
	return f.acts.PruneEvents(ctx, before, limit)
}

func (f *fakePruner) PruneEvents(_ context.Context, before time.Time, limit int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limits = append(f.limits, limit)
	f.befores = append(f.befores, before)
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		if err != nil {
			return 0, err
		}
	}
	n := min(limit, f.left)
	f.left -= n
	return n, nil
}

func (f *fakePruner) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.limits)
}

// tunePruner shrinks the loop's delays and chunk size for one test.
func tunePruner(t *testing.T, chunk, maxChunks int) {
	t.Helper()
	delay, c, pause, mc := pruneFirstDelay, pruneChunk, prunePause, pruneMaxChunks
	pruneFirstDelay, pruneChunk, prunePause, pruneMaxChunks = time.Millisecond, chunk, time.Millisecond, maxChunks
	t.Cleanup(func() { pruneFirstDelay, pruneChunk, prunePause, pruneMaxChunks = delay, c, pause, mc })
}

// runPruner starts RunPruner and returns a stop function that cancels it
// and waits for it to return.
func runPruner(f *fakePruner, retention, interval time.Duration, log zerolog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunPruner(ctx, f, retention, interval, log)
	}()
	return func() { cancel(); <-done }
}

// waitCalls waits until f was called at least n times.
func waitCalls(t *testing.T, f *fakePruner, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.calls() < n {
		if time.Now().After(deadline) {
			t.Fatalf("PruneEvents called %d times, want at least %d", f.calls(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRunPrunerChunks(t *testing.T) {
	tests := []struct {
		name      string
		left      int
		maxChunks int
		want      int // calls in the first run
		wantLeft  int
	}{
		{"nothing old", 0, 10, 1, 0},
		{"short last chunk", 7, 10, 3, 0},
		{"exact chunks end with an empty one", 6, 10, 3, 0},
		{"run bounded by max chunks", 100, 4, 4, 88},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tunePruner(t, 3, tc.maxChunks)
			const retention = 200 * time.Hour
			f := &fakePruner{left: tc.left}
			start := time.Now()
			stop := runPruner(f, retention, time.Hour, zerolog.Nop())
			waitCalls(t, f, tc.want)
			time.Sleep(20 * time.Millisecond) // room for a wrong extra call
			stop()
			end := time.Now()
			if got := f.calls(); got != tc.want {
				t.Errorf("PruneEvents calls = %d, want %d", got, tc.want)
			}
			if f.left != tc.wantLeft {
				t.Errorf("events left = %d, want %d", f.left, tc.wantLeft)
			}
			for i, before := range f.befores {
				if f.limits[i] != 3 {
					t.Errorf("call %d limit = %d, want 3", i, f.limits[i])
				}
				if lo, hi := start.Add(-retention), end.Add(-retention); before.Before(lo) || before.After(hi) {
					t.Errorf("call %d before = %v, want between %v and %v (now - retention)", i, before, lo, hi)
				}
			}
		})
	}
}

func TestRunPrunerRepeatsAndLogsFailureOnce(t *testing.T) {
	tunePruner(t, 3, 10)
	boom := errors.New("database unavailable")
	f := &fakePruner{left: 2, errs: []error{boom, boom, boom, nil}}
	var buf bytes.Buffer
	stop := runPruner(f, 200*time.Hour, 5*time.Millisecond, zerolog.New(&buf))
	waitCalls(t, f, 5)
	stop()
	if f.left != 0 {
		t.Errorf("events left = %d, want 0 (pruned once the store works again)", f.left)
	}
	out := buf.String()
	if got := strings.Count(out, "pruning old events failed"); got != 1 {
		t.Errorf("failure logged %d times, want once per streak; log:\n%s", got, out)
	}
	if !strings.Contains(out, "database unavailable") || !strings.Contains(out, "works again") {
		t.Errorf("log lacks the error or the recovery:\n%s", out)
	}
}

func TestRunPrunerDisabled(t *testing.T) {
	tunePruner(t, 3, 10)
	for _, tc := range []struct{ retention, interval time.Duration }{
		{0, time.Hour},
		{-time.Hour, time.Hour},
		{200 * time.Hour, 0},
	} {
		f := &fakePruner{left: 5}
		done := make(chan struct{})
		go func() {
			defer close(done)
			RunPruner(context.Background(), f, tc.retention, tc.interval, zerolog.Nop())
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("RunPruner(retention %v, interval %v) did not return at once", tc.retention, tc.interval)
		}
		if got := f.calls(); got != 0 {
			t.Errorf("RunPruner(retention %v, interval %v) pruned %d times, want 0", tc.retention, tc.interval, got)
		}
	}
}

func TestRunPrunerStopsWithContext(t *testing.T) {
	tunePruner(t, 3, 1000)
	f := &fakePruner{left: 1 << 30} // always a full chunk: the run would go on
	stop := runPruner(f, 200*time.Hour, time.Hour, zerolog.Nop())
	waitCalls(t, f, 2)
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunPruner did not return after its context was cancelled")
	}
}

// TestRunPrunerPrunesActions: each run also prunes the rule actions that
// finished before the same cutoff, chunk by chunk, and a failure there is
// logged once and does not keep the events from being pruned.
func TestRunPrunerPrunesActions(t *testing.T) {
	tunePruner(t, 3, 10)
	boom := errors.New("rule_actions unavailable")
	acts := &fakePruner{left: 7, errs: []error{boom, boom}}
	f := &fakePruner{left: 4, acts: acts}
	var buf bytes.Buffer
	stop := runPruner(f, 200*time.Hour, 5*time.Millisecond, zerolog.New(&buf))
	waitCalls(t, acts, 5) // two failed runs, then 3 + 3 + 1
	stop()
	if f.left != 0 || acts.left != 0 {
		t.Errorf("left: %d events, %d actions; want both pruned", f.left, acts.left)
	}
	if f.befores[0] != acts.befores[0] {
		t.Errorf("first run's cutoffs: events %v, actions %v; want the same", f.befores[0], acts.befores[0])
	}
	out := buf.String()
	if got := strings.Count(out, "pruning old rule actions failed"); got != 1 {
		t.Errorf("actions' failure logged %d times, want once per streak; log:\n%s", got, out)
	}
	if !strings.Contains(out, "pruning old rule actions works again") || !strings.Contains(out, "pruned old events") {
		t.Errorf("log lacks the actions' recovery or the events' prune:\n%s", out)
	}
}
