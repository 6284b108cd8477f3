package outputs

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// noJitter makes back-off deterministic: the full ceiling.
func noJitter(d time.Duration) time.Duration { return d }

// rig opens a store with an HTTP output "lab" to a new consumer, on a
// manual clock, and a worker for it logging into the returned buffer.
func rig(t *testing.T, open opener) (*consumer, store.Store, *storetest.Clock, *Worker, *bytes.Buffer) {
	c := newConsumer(t)
	out := httpOutput("lab", c)
	clock := storetest.NewClock(storetest.T0)
	s := open(t, store.Options{Now: clock.Now, Outputs: StoreOutputs([]Output{out})})
	log := &bytes.Buffer{}
	w := NewWorker(s, out, NewHTTP(out.HTTP, "receiver-test", nil), Options{
		Owner: "w1", Now: clock.Now, Jitter: noJitter, Log: zerolog.New(log),
	})
	return c, s, clock, w, log
}

// TestDownThenBack: every event stored while the destination was down
// reaches it once it is back, each under its own stable webhook-id.
func TestDownThenBack(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		c, s, clock, w, log := rig(t, open)

		c.Mode.Store("503")
		ids := saveEvents(t, s, 40, 5)
		for range 5 { // an hour of trying against a destination that is down
			if _, err := w.Poll(testCtx(t)); err != nil {
				t.Fatalf("Poll: %v", err)
			}
			clock.Advance(15 * time.Minute)
		}
		if got := c.Received(); len(got) != 0 {
			t.Fatalf("received while down = %v, want nothing", got)
		}
		if got := pending(t, s, "lab"); got != 40 {
			t.Fatalf("pending while down = %d, want 40", got)
		}
		c.Mode.Store("up")
		drain(t, w, s, "lab", clock, time.Hour, 40)
		want := map[string]int{}
		for _, id := range ids {
			want[id] = 1
		}
		if d := cmp.Diff(want, c.Received()); d != "" {
			t.Errorf("received after the destination came back (-want +got):\n%s", d)
		}
		if n := c.BadSignatures(); n != 0 {
			t.Errorf("%d deliveries failed Standard Webhooks verification", n)
		}
		if strings.Contains(log.String(), testSecret) || strings.Contains(log.String(), "v1,") {
			t.Errorf("log holds the secret or a signature:\n%s", log.String())
		}
		// Each line names the output, once.
		for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
			if n := strings.Count(line, `"output":"lab"`); n != 1 {
				t.Errorf("log line names the output %d times, want once: %s", n, line)
			}
		}
	})
}

// TestOrderPerStudy: with the destination failing now and then, each
// study's events still arrive in stored order.
func TestOrderPerStudy(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		out := httpOutput("lab", newConsumer(t))
		clock := storetest.NewClock(storetest.T0)
		s := open(t, store.Options{Now: clock.Now, Outputs: StoreOutputs([]Output{out})})
		var order []string
		rec := &recorder{fail: map[int]bool{1: true, 4: true, 5: true}}
		w := NewWorker(s, out, rec, Options{Owner: "w", Now: clock.Now, Jitter: noJitter})
		ids := saveEvents(t, s, 12, 3)
		for range 30 {
			if _, err := w.Poll(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
		}
		order = rec.delivered()
		for study := range 3 {
			var want, got []string
			for i, id := range ids {
				if i%3 == study {
					want = append(want, id)
				}
			}
			for _, id := range order {
				for i, sid := range ids {
					if sid == id && i%3 == study {
						got = append(got, id)
					}
				}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("study %d delivery order (-want +got):\n%s", study, d)
			}
		}
	})
}

// TestDeadLettersThenRetry: a destination answering 500 forever moves
// every event to the dead letters after max_age; retry delivers them.
func TestDeadLettersThenRetry(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		c, s, clock, w, _ := rig(t, open)
		c.Mode.Store("500")
		ids := saveEvents(t, s, 6, 2)
		drain(t, w, s, "lab", clock, 30*time.Minute, 400)
		st := state(t, s, "lab")
		if st.Pending != 0 || st.DeadLetters != 6 {
			t.Fatalf("after max_age of 500s: %+v, want 0 pending, 6 dead letters", st)
		}
		if clock.Now().Sub(storetest.T0) < DefaultMaxAge {
			t.Errorf("dead-lettered after %s, want no sooner than max_age %s", clock.Now().Sub(storetest.T0), DefaultMaxAge)
		}
		dead, err := s.DeadLetters(testCtx(t), "lab", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(dead[0].LastError, "500") || !strings.Contains(dead[0].LastError, "max_age") {
			t.Errorf("dead letter reason = %q, want the 500 and max_age", dead[0].LastError)
		}
		c.Mode.Store("up")
		if n, err := s.RetryOutput(testCtx(t), "lab", true); err != nil || n != 6 {
			t.Fatalf("RetryOutput(dead letters) = %d, %v, want 6", n, err)
		}
		drain(t, w, s, "lab", clock, time.Minute, 20)
		if got := c.Received(); len(got) != len(ids) {
			t.Errorf("received after retry = %d events, want %d", len(got), len(ids))
		}
	})
}

// TestGoneDisables: 410 disables the output, nothing is lost, and resume
// delivers.
func TestGoneDisables(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		c, s, clock, w, log := rig(t, open)
		c.Mode.Store("410")
		saveEvents(t, s, 3, 3)
		if _, err := w.Poll(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		tried := c.Tried()
		clock.Advance(time.Hour)
		if n, err := w.Poll(testCtx(t)); err != nil || n != 0 {
			t.Errorf("Poll of a disabled output = %d, %v, want nothing claimed", n, err)
		}
		if c.Tried() != tried {
			t.Errorf("a disabled output was tried again")
		}
		if st := state(t, s, "lab"); st.Disabled == "" || st.Pending != 3 {
			t.Errorf("state = %+v, want disabled with 3 pending", st)
		}
		if !strings.Contains(log.String(), "410") {
			t.Errorf("log does not say the output was disabled by a 410:\n%s", log.String())
		}
		c.Mode.Store("up")
		if err := s.SetOutputPaused(testCtx(t), "lab", false); err != nil {
			t.Fatal(err)
		}
		drain(t, w, s, "lab", clock, time.Minute, 5)
		if got := len(c.Received()); got != 3 {
			t.Errorf("received after resume = %d, want 3", got)
		}
	})
}

// TestSlowDestination: a destination slower than the timeout is retried;
// the attempt ends at the timeout.
func TestSlowDestination(t *testing.T) {
	c := newConsumer(t)
	c.Mode.Store("slow")
	out := httpOutput("lab", c)
	out.HTTP.Timeout = 100 * time.Millisecond
	h := NewHTTP(out.HTTP, "receiver-test", nil)
	start := time.Now()
	err := h.Deliver(context.Background(), Message{EventID: "e1"}, []byte(`{}`))
	var re *RetryError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("Deliver to a slow destination = %v, want a timed-out RetryError", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Deliver took %s, want about the 100ms timeout", el)
	}
	if strings.Contains(err.Error(), c.URL) {
		t.Errorf("error %q holds the URL", err)
	}
}

// recorder is a Destination that fails the attempts whose number (from
// 0) is in fail and records what it accepted, in order.
type recorder struct {
	mu    sync.Mutex
	n     int
	fail  map[int]bool
	order []string
}

func (r *recorder) Deliver(_ context.Context, m Message, _ []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.n
	r.n++
	if r.fail[n] {
		return &RetryError{Reason: "injected"}
	}
	r.order = append(r.order, m.EventID)
	return nil
}

func (r *recorder) Close() error { return nil }

func (r *recorder) delivered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

func TestRetryAt(t *testing.T) {
	w := NewWorker(nil, Output{MaxAge: 72 * time.Hour}, nil, Options{Jitter: noJitter, BackoffBase: time.Second, BackoffMax: time.Hour})
	now := storetest.T0
	tests := []struct {
		name     string
		attempts int
		ageFrom  time.Time
		err      error
		want     time.Duration
	}{
		{"first failure", 1, now, errors.New("x"), time.Second},
		{"doubles", 4, now, errors.New("x"), 8 * time.Second},
		{"capped", 30, now, errors.New("x"), time.Hour},
		{"retry-after wins when longer", 1, now, &RetryError{After: 30 * time.Second}, 30 * time.Second},
		{"never past max age", 30, now.Add(-72*time.Hour + time.Minute), errors.New("x"), time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := w.retryAt(now, store.OutboxItem{Attempts: tc.attempts, AgeFrom: tc.ageFrom}, tc.err).Sub(now)
			if got != tc.want {
				t.Errorf("retryAt delay = %s, want %s", got, tc.want)
			}
		})
	}
	// Full jitter: the delay is drawn from [0, ceiling].
	var seen []time.Duration
	w.opts.Jitter = func(d time.Duration) time.Duration { seen = append(seen, d); return d / 2 }
	if got := w.retryAt(now, store.OutboxItem{Attempts: 3, AgeFrom: now}, errors.New("x")).Sub(now); got != 2*time.Second {
		t.Errorf("jittered delay = %s, want 2s (half of 4s)", got)
	}
	if d := cmp.Diff([]time.Duration{4 * time.Second}, seen); d != "" {
		t.Errorf("jitter ceiling (-want +got):\n%s", d)
	}
}

// TestDownPause: polls whose every attempt failed make the worker wait
// before probing again, doubling; one delivery ends it.
func TestDownPause(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		out := httpOutput("lab", newConsumer(t))
		clock := storetest.NewClock(storetest.T0)
		s := open(t, store.Options{Now: clock.Now, Outputs: StoreOutputs([]Output{out})})
		rec := &recorder{fail: map[int]bool{0: true, 1: true}}
		w := NewWorker(s, out, rec, Options{Owner: "w", Now: clock.Now, Jitter: noJitter})
		saveEvents(t, s, 1, 1)
		var pauses []time.Duration
		for range 3 {
			if _, err := w.Poll(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			pauses = append(pauses, w.downPause())
			clock.Advance(time.Hour)
		}
		if d := cmp.Diff([]time.Duration{time.Second, 2 * time.Second, 0}, pauses); d != "" {
			t.Errorf("pauses after fail, fail, deliver (-want +got):\n%s", d)
		}
	})
}

// slowDest takes the whole timeout on each attempt, on the manual clock:
// with Concurrency attempts at once, each advances it by its share. On its
// last attempt it asks whether another worker could claim any of the rows
// meanwhile.
type slowDest struct {
	clock       *storetest.Clock
	step        time.Duration
	left        int
	lastAttempt func()
	mu          sync.Mutex
}

func (d *slowDest) Deliver(context.Context, Message, []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clock.Advance(d.step)
	if d.left--; d.left == 0 {
		d.lastAttempt()
	}
	return nil
}

func (d *slowDest) Close() error { return nil }

// TestLeaseCoversSlowBatch: with the default lease, no row of a claimed
// batch can be claimed by another replica while the batch is still being
// delivered to a destination that takes the whole timeout per attempt
// (32 rows, 8 at a time, 30 s each: two minutes for the batch).
func TestLeaseCoversSlowBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		out := httpOutput("lab", newConsumer(t))
		out.Ordered = false
		out.HTTP.Timeout = 30 * time.Second
		clock := storetest.NewClock(storetest.T0)
		s := open(t, store.Options{Now: clock.Now, Outputs: StoreOutputs([]Output{out})})
		saveEvents(t, s, DefaultBatch, 5)
		var stolen []store.OutboxItem
		dest := &slowDest{clock: clock, step: out.HTTP.Timeout / DefaultConcurrency, left: DefaultBatch}
		dest.lastAttempt = func() {
			var err error
			stolen, err = s.ClaimOutbox(testCtx(t), "lab", "other-replica", DefaultBatch, time.Minute, false)
			if err != nil {
				t.Errorf("ClaimOutbox by another replica: %v", err)
			}
		}
		w := NewWorker(s, out, dest, Options{Owner: "w1", Now: clock.Now, Jitter: noJitter})
		if n, err := w.Poll(testCtx(t)); err != nil || n != DefaultBatch {
			t.Fatalf("Poll = %d, %v; want %d rows", n, err, DefaultBatch)
		}
		if len(stolen) != 0 {
			t.Errorf("another replica claimed %d rows of the batch while it was being delivered (lease %s)", len(stolen), w.opts.Lease)
		}
		if got := pending(t, s, "lab"); got != 0 {
			t.Errorf("pending after the batch = %d, want 0", got)
		}
	})
}

// fixedSaver answers every Save with its outcome and error.
type fixedSaver struct {
	out store.Outcome
	err error
}

func (f fixedSaver) Save(context.Context, *store.Event) (store.Outcome, error) { return f.out, f.err }

// TestWakeOnSave: a stored event wakes every worker at once; a duplicate
// or a failed save wakes none (nothing new was queued).
func TestWakeOnSave(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    fixedSaver
		want bool
	}{
		{"stored", fixedSaver{out: store.Stored}, true},
		{"duplicate", fixedSaver{out: store.Duplicate}, false},
		{"error", fixedSaver{err: errors.New("disk full")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := NewWorker(nil, Output{Name: "a"}, nil, Options{}), NewWorker(nil, Output{Name: "b"}, nil, Options{})
			r := &Runner{workers: []*Worker{a, b}}
			saver := r.WakeOnSave(tc.s)
			for range 2 { // a second wake while one is pending never blocks
				out, err := saver.Save(context.Background(), &store.Event{})
				if out != tc.s.out || err != tc.s.err {
					t.Fatalf("Save = %v, %v; want %v, %v passed through", out, err, tc.s.out, tc.s.err)
				}
			}
			for _, w := range []*Worker{a, b} {
				if got := len(w.wake) == 1; got != tc.want {
					t.Errorf("worker %s woken = %t, want %t", w.out.Name, got, tc.want)
				}
			}
		})
	}
}

// blockingDest holds each attempt until its context ends, and says when
// the first one started.
type blockingDest struct{ started chan struct{} }

func (d *blockingDest) Deliver(ctx context.Context, _ Message, _ []byte) error {
	select {
	case d.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return &RetryError{Reason: "request failed: " + ctx.Err().Error()}
}

func (d *blockingDest) Close() error { return nil }

// TestShutdownInterruptsWithoutBackoff: attempts cut short by the
// receiver stopping are not the destination's failures: their rows are
// due again at once (no back-off), with no retry warning in the log.
func TestShutdownInterruptsWithoutBackoff(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		out := httpOutput("lab", newConsumer(t))
		clock := storetest.NewClock(storetest.T0)
		s := open(t, store.Options{Now: clock.Now, Outputs: StoreOutputs([]Output{out})})
		saveEvents(t, s, 3, 3)
		log := &bytes.Buffer{}
		dest := &blockingDest{started: make(chan struct{}, 1)}
		w := NewWorker(s, out, dest, Options{Owner: "w1", Now: clock.Now, Jitter: noJitter, Log: zerolog.New(log)})
		ctx, cancel := context.WithCancel(testCtx(t))
		go func() { <-dest.started; cancel() }()
		if n, err := w.Poll(ctx); err != nil || n != 3 {
			t.Fatalf("Poll = %d, %v; want 3 rows", n, err)
		}
		// Due at once: another worker claims all three without the clock moving.
		items, err := s.ClaimOutbox(testCtx(t), "lab", "w2", 10, time.Minute, true)
		if err != nil || len(items) != 3 {
			t.Fatalf("ClaimOutbox right after the shutdown = %d rows, %v; want 3", len(items), err)
		}
		if strings.Contains(log.String(), "will retry") || !strings.Contains(log.String(), "interrupted by shutdown") {
			t.Errorf("log after an interrupted poll:\n%s\nwant the interruption, no retry warnings", log.String())
		}
		if d := w.downPause(); d != 0 {
			t.Errorf("down pause after an interrupted poll = %v, want 0 (the destination did not fail)", d)
		}
	})
}
