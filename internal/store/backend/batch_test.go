package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// fakeCommit records batches and answers Stored, or Duplicate for an ID seen before.
type fakeCommit struct {
	mu      sync.Mutex
	seen    map[string]bool
	batches [][]string
	delay   time.Duration
	fail    error
	entered chan struct{} // if non-nil, receives once per commit call
	release chan struct{} // if non-nil, commit waits for it
}

func (f *fakeCommit) commit(_ context.Context, events []*store.Event) ([]store.Outcome, error) {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.release != nil {
		<-f.release
	}
	time.Sleep(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	f.batches = append(f.batches, ids)
	if f.fail != nil {
		return nil, f.fail
	}
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	out := make([]store.Outcome, len(events))
	for i, e := range events {
		out[i] = store.Stored
		if f.seen[e.ID] {
			out[i] = store.Duplicate
		}
		f.seen[e.ID] = true
	}
	return out, nil
}

func (f *fakeCommit) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.batches)
}

func TestBatcherGroupsConcurrentSaves(t *testing.T) {
	f := &fakeCommit{delay: 5 * time.Millisecond}
	b := NewBatcher(f.commit, 64)
	defer b.Close()

	const n = 200
	var wg sync.WaitGroup
	var stored atomic.Int64
	for i := range n {
		wg.Go(func() {
			o, err := b.Save(context.Background(), &store.Event{ID: fmt.Sprint("e", i)})
			if err != nil {
				t.Errorf("Save: %v", err)
			}
			if o == store.Stored {
				stored.Add(1)
			}
		})
	}
	wg.Wait()
	if got := stored.Load(); got != n {
		t.Errorf("stored = %d, want %d", got, n)
	}
	calls := f.calls()
	if calls >= n/2 {
		t.Errorf("commit called %d times for %d saves, want far fewer (grouping)", calls, n)
	}
	for _, batch := range f.batches {
		if len(batch) > 64 {
			t.Errorf("batch of %d events, want at most maxBatch 64", len(batch))
		}
	}
}

func TestBatcherOutcomesPerCaller(t *testing.T) {
	f := &fakeCommit{}
	b := NewBatcher(f.commit, 8, WithCommitters(3))
	defer b.Close()
	var wg sync.WaitGroup
	var stored, dup atomic.Int64
	for i := range 100 {
		wg.Go(func() {
			o, err := b.Save(context.Background(), &store.Event{ID: fmt.Sprint("e", i%10)})
			if err != nil {
				t.Errorf("Save: %v", err)
			}
			switch o {
			case store.Stored:
				stored.Add(1)
			case store.Duplicate:
				dup.Add(1)
			}
		})
	}
	wg.Wait()
	if stored.Load() != 10 || dup.Load() != 90 {
		t.Errorf("stored, duplicate = %d, %d; want 10, 90", stored.Load(), dup.Load())
	}
}

// A second committer starts a transaction only once a full batch waits:
// below that the busy committer takes the waiting events in its next batch.
func TestBatcherSpareCommitterWaitsForFullBatch(t *testing.T) {
	f := &fakeCommit{entered: make(chan struct{}, 10), release: make(chan struct{})}
	b := NewBatcher(f.commit, 4, WithCommitters(2))
	defer b.Close()
	letGo := closer(f.release)
	defer letGo() // before Close, which waits for the held commits

	errs := make(chan error, 8)
	save := func(id string) {
		go func() { _, err := b.Save(context.Background(), &store.Event{ID: id}); errs <- err }()
	}
	save("first")
	<-f.entered // one committer holds "first"
	for i := range 3 {
		save(fmt.Sprint("small", i))
	}
	waitQueued(t, b, 3)
	select {
	case <-f.entered:
		t.Fatal("the idle committer started a batch of fewer than maxBatch events while the other was busy")
	case <-time.After(50 * time.Millisecond):
	}
	save("fourth") // four waiting: a full batch
	select {
	case <-f.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no second commit started with a full batch waiting")
	}
	letGo()
	for range 5 {
		if err := <-errs; err != nil {
			t.Errorf("Save: %v", err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.batches) != 2 || len(f.batches[0])+len(f.batches[1]) != 5 {
		t.Errorf("batches = %v, want [first] and the four that waited", f.batches)
	}
}

// While a committer isolates a failed batch (one commit per event), it
// does not count as busy: another committer serves new arrivals at once.
func TestBatcherIsolationDoesNotHoldBackArrivals(t *testing.T) {
	errBad := errors.New("bad event")
	hold, slow := make(chan struct{}), make(chan struct{})
	holding, isolating := make(chan struct{}, 1), make(chan struct{}, 1)
	commit := func(_ context.Context, events []*store.Event) ([]store.Outcome, error) {
		out := make([]store.Outcome, len(events))
		for i, e := range events {
			switch {
			case e.ID == "bad":
				return nil, errBad
			case e.ID == "hold":
				holding <- struct{}{}
				<-hold
			case e.ID == "slow" && len(events) == 1:
				isolating <- struct{}{}
				<-slow
			}
			out[i] = store.Stored
		}
		return out, nil
	}
	b := NewBatcher(commit, 4, WithCommitters(2), WithIsolate(func(err error) bool { return errors.Is(err, errBad) }))
	defer b.Close()
	letHold, letSlow := closer(hold), closer(slow)
	defer letHold() // before Close, which waits for the held commits
	defer letSlow()

	save := func(id string) chan error {
		done := make(chan error, 1)
		go func() { _, err := b.Save(context.Background(), &store.Event{ID: id}); done <- err }()
		return done
	}
	held := save("hold")
	<-holding // one committer busy; the next two wait for it (fewer than maxBatch)
	slowDone, badDone := save("slow"), save("bad")
	waitQueued(t, b, 2)
	letHold() // that committer takes [slow bad], fails, isolates, holds in "slow"
	select {
	case <-isolating:
	case <-time.After(5 * time.Second):
		t.Fatal("the failed batch was not isolated")
	}
	select {
	case err := <-save("new"):
		if err != nil {
			t.Errorf("new Save: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a new arrival waited for the isolation to finish")
	}
	letSlow()
	if err := <-slowDone; err != nil {
		t.Errorf("slow Save: %v", err)
	}
	if err := <-badDone; !errors.Is(err, errBad) {
		t.Errorf("bad Save = %v, want %v", err, errBad)
	}
	if err := <-held; err != nil {
		t.Errorf("hold Save: %v", err)
	}
}

// closer returns a function that closes ch the first time it is called.
func closer(ch chan struct{}) func() {
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func TestBatcherErrorFanOut(t *testing.T) {
	boom := errors.New("disk on fire")
	f := &fakeCommit{fail: boom, entered: make(chan struct{}, 100), release: make(chan struct{})}
	b := NewBatcher(f.commit, 100)
	defer b.Close()

	// Hold the committer in a first batch so the next ten queue up together.
	first := make(chan error, 1)
	go func() { _, err := b.Save(context.Background(), &store.Event{ID: "first"}); first <- err }()
	<-f.entered
	errs := make(chan error, 10)
	for i := range 10 {
		go func() { _, err := b.Save(context.Background(), &store.Event{ID: fmt.Sprint("e", i)}); errs <- err }()
	}
	waitQueued(t, b, 10)
	close(f.release)
	if err := <-first; !errors.Is(err, boom) {
		t.Errorf("first Save error = %v, want %v", err, boom)
	}
	for range 10 {
		if err := <-errs; !errors.Is(err, boom) {
			t.Errorf("Save error = %v, want %v", err, boom)
		}
	}
	if got := f.calls(); got != 2 {
		t.Errorf("commit calls = %d, want 2 (one held, one with the ten queued)", got)
	}
}

func TestBatcherCancelWhileQueued(t *testing.T) {
	f := &fakeCommit{entered: make(chan struct{}, 10), release: make(chan struct{})}
	b := NewBatcher(f.commit, 10)
	defer b.Close()

	first := make(chan error, 1)
	go func() { _, err := b.Save(context.Background(), &store.Event{ID: "first"}); first <- err }()
	<-f.entered // committer busy with "first"

	ctx, cancel := context.WithCancel(context.Background())
	queued := make(chan error, 1)
	go func() { _, err := b.Save(ctx, &store.Event{ID: "withdrawn"}); queued <- err }()
	waitQueued(t, b, 1)
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Errorf("queued Save after cancel = %v, want %v", err, context.Canceled)
	}
	close(f.release)
	if err := <-first; err != nil {
		t.Errorf("first Save = %v, want nil", err)
	}
	b.Close()
	for _, batch := range f.batches {
		for _, id := range batch {
			if id == "withdrawn" {
				t.Errorf("withdrawn event was committed: batches %v", f.batches)
			}
		}
	}
}

func TestBatcherCancelAfterHandOffGetsTrueResult(t *testing.T) {
	f := &fakeCommit{entered: make(chan struct{}, 1), release: make(chan struct{})}
	b := NewBatcher(f.commit, 10)
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var got store.Outcome
	var err error
	go func() { got, err = b.Save(ctx, &store.Event{ID: "x"}); close(done) }()
	<-f.entered // handed to commit
	cancel()
	select {
	case <-done:
		t.Fatalf("Save returned (%v, %v) before its commit finished", got, err)
	case <-time.After(20 * time.Millisecond):
	}
	close(f.release)
	<-done
	if err != nil || got != store.Stored {
		t.Errorf("Save = (%v, %v), want (stored, nil)", got, err)
	}
}

func TestBatcherClose(t *testing.T) {
	f := &fakeCommit{entered: make(chan struct{}, 10), release: make(chan struct{})}
	b := NewBatcher(f.commit, 1)

	results := make(chan error, 3)
	for i := range 3 {
		go func() { _, err := b.Save(context.Background(), &store.Event{ID: fmt.Sprint("e", i)}); results <- err }()
	}
	<-f.entered
	waitQueued(t, b, 2)
	closed := make(chan struct{})
	go func() { b.Close(); close(closed) }()
	// Close must wait for the pending saves, which all succeed.
	close(f.release)
	for range 3 {
		if err := <-results; err != nil {
			t.Errorf("pending Save = %v, want nil (Close drains)", err)
		}
	}
	<-closed
	if _, err := b.Save(context.Background(), &store.Event{ID: "late"}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Save after Close = %v, want %v", err, store.ErrClosed)
	}
	b.Close() // idempotent
	if got := f.calls(); got != 3 {
		t.Errorf("commit calls = %d, want 3 (maxBatch 1)", got)
	}
}

func TestBatcherWrongOutcomeCount(t *testing.T) {
	b := NewBatcher(func(context.Context, []*store.Event) ([]store.Outcome, error) { return nil, nil }, 1)
	defer b.Close()
	if _, err := b.Save(context.Background(), &store.Event{ID: "x"}); err == nil {
		t.Error("Save with a commit returning no outcomes succeeded, want an error")
	}
}

// waitQueued waits until n requests are in b's queue.
func waitQueued(t *testing.T, b *Batcher, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		got := len(b.queue)
		b.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("queue never reached %d requests", n)
}

var (
	errPoison = errors.New("value refused by the database")
	errDown   = errors.New("connection refused")
)

// isPoison is the isolation classifier the tests give the Batcher.
func isPoison(err error) bool { return errors.Is(err, errPoison) }

// poisonCommit wraps fakeCommit: a batch holding the ID poison fails with
// errPoison; from the downAfter-th call on (when > 0) every call fails with
// errDown, as when the database goes away.
type poisonCommit struct {
	fakeCommit
	poison    string
	downAfter int
}

func (p *poisonCommit) commit(ctx context.Context, events []*store.Event) ([]store.Outcome, error) {
	p.mu.Lock()
	n := len(p.batches) + 1
	down := p.downAfter > 0 && n >= p.downAfter
	if down {
		p.fail = errDown
	}
	p.mu.Unlock()
	if !down {
		for _, e := range events {
			if e.ID == p.poison {
				p.mu.Lock()
				p.batches = append(p.batches, []string{"refused"})
				p.mu.Unlock()
				return nil, fmt.Errorf("insert %q: %w", e.ID, errPoison)
			}
		}
	}
	return p.fakeCommit.commit(ctx, events)
}

func TestBatcherPoisonIsolation(t *testing.T) {
	tests := []struct {
		name      string
		isolate   bool
		poison    string
		downAfter int
		fail      error
		wantErr   map[string]error // by event ID; absent means store.Stored
		wantCalls int              // after the held first batch
	}{
		{
			name:      "poison fails alone",
			isolate:   true,
			poison:    "e3",
			wantErr:   map[string]error{"e3": errPoison},
			wantCalls: 1 + 5,
		},
		{
			name:      "without WithIsolate the whole batch fails",
			poison:    "e3",
			wantErr:   map[string]error{"e0": errPoison, "e1": errPoison, "e2": errPoison, "e3": errPoison, "e4": errPoison},
			wantCalls: 1,
		},
		{
			name:      "connectivity error: no isolation, one commit",
			isolate:   true,
			fail:      errDown,
			wantErr:   map[string]error{"e0": errDown, "e1": errDown, "e2": errDown, "e3": errDown, "e4": errDown},
			wantCalls: 1,
		},
		{
			// Calls: 1 held, 2 the batch (refused), 3 e0 alone, 4 e1 alone: down.
			name:      "database lost during isolation stops it",
			isolate:   true,
			poison:    "e3",
			downAfter: 4,
			wantErr:   map[string]error{"e1": errDown, "e2": errDown, "e3": errDown, "e4": errDown},
			wantCalls: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &poisonCommit{poison: tt.poison, downAfter: tt.downAfter}
			p.entered = make(chan struct{}, 100)
			p.release = make(chan struct{})
			var opts []BatcherOption
			if tt.isolate {
				opts = append(opts, WithIsolate(isPoison))
			}
			b := NewBatcher(p.commit, 100, opts...)
			defer b.Close()

			// Hold the committer in a first batch so the next five queue up together.
			first := make(chan error, 1)
			go func() { _, err := b.Save(context.Background(), &store.Event{ID: "first"}); first <- err }()
			<-p.entered
			if tt.fail != nil {
				p.mu.Lock()
				p.fail = tt.fail
				p.mu.Unlock()
			}
			type answer struct {
				id  string
				o   store.Outcome
				err error
			}
			answers := make(chan answer, 5)
			for i := range 5 {
				id := fmt.Sprint("e", i)
				// Queue in a fixed order, so "database lost" knows which go first.
				go func() { o, err := b.Save(context.Background(), &store.Event{ID: id}); answers <- answer{id, o, err} }()
				waitQueued(t, b, i+1)
			}
			close(p.release)
			<-first
			for range 5 {
				a := <-answers
				want := tt.wantErr[a.id]
				switch {
				case want == nil && (a.err != nil || a.o != store.Stored):
					t.Errorf("Save(%s) = (%v, %v), want (stored, nil)", a.id, a.o, a.err)
				case want != nil && !errors.Is(a.err, want):
					t.Errorf("Save(%s) error = %v, want %v", a.id, a.err, want)
				}
			}
			if got := p.calls() - 1; got != tt.wantCalls {
				t.Errorf("commit calls after the first batch = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestBatcherSingleEventBatchNotRetried(t *testing.T) {
	p := &poisonCommit{poison: "bad"}
	b := NewBatcher(p.commit, 10, WithIsolate(isPoison))
	defer b.Close()
	if _, err := b.Save(context.Background(), &store.Event{ID: "bad"}); !errors.Is(err, errPoison) {
		t.Errorf("Save(bad) error = %v, want %v", err, errPoison)
	}
	if got := p.calls(); got != 1 {
		t.Errorf("commit calls = %d, want 1", got)
	}
}

// TestBatcherCommitObserver: the observer hears every commit, with the
// events it held, its duration and its error, before the callers are
// answered.
func TestBatcherCommitObserver(t *testing.T) {
	boom := errors.New("disk on fire")
	type seen struct {
		events int
		took   time.Duration
		err    error
	}
	var mu sync.Mutex
	var commits []seen
	f := &fakeCommit{entered: make(chan struct{}, 100), release: make(chan struct{})}
	b := NewBatcher(f.commit, 100, WithCommitObserver(func(events int, took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		commits = append(commits, seen{events, took, err})
	}))
	defer b.Close()

	// One commit held while seven more queue up: two commits, 1 and 7.
	first := make(chan error, 1)
	go func() { _, err := b.Save(context.Background(), &store.Event{ID: "first"}); first <- err }()
	<-f.entered
	errs := make(chan error, 7)
	for i := range 7 {
		go func() { _, err := b.Save(context.Background(), &store.Event{ID: fmt.Sprint("e", i)}); errs <- err }()
	}
	waitQueued(t, b, 7)
	time.Sleep(5 * time.Millisecond) // the held commit takes measurable time
	close(f.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range 7 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	got := append([]seen(nil), commits...)
	mu.Unlock()
	if len(got) != 2 || got[0].events != 1 || got[1].events != 7 || got[0].err != nil || got[1].err != nil {
		t.Fatalf("observed %+v, want commits of 1 and 7 events without error", got)
	}
	if got[0].took < 5*time.Millisecond {
		t.Errorf("first commit observed as %v, want at least the 5 ms it was held", got[0].took)
	}

	// A failed commit is observed with its error.
	f.mu.Lock()
	f.fail = boom
	f.mu.Unlock()
	if _, err := b.Save(context.Background(), &store.Event{ID: "late"}); !errors.Is(err, boom) {
		t.Fatalf("Save = %v, want %v", err, boom)
	}
	mu.Lock()
	defer mu.Unlock()
	if last := commits[len(commits)-1]; len(commits) != 3 || last.events != 1 || !errors.Is(last.err, boom) {
		t.Errorf("observed %+v, want a third commit of 1 event failing with %v", commits, boom)
	}
}

// TestBatcherDurableAnswersAfterWait: with WithDurable, a committed batch's
// callers hear nothing until its wait returns; meanwhile the committer
// commits the next batch (the sync overlaps it); a failed wait answers the
// batch's callers with its error, never with their outcomes; Close answers
// what is pending before it returns.
func TestBatcherDurableAnswersAfterWait(t *testing.T) {
	f := &fakeCommit{}
	type gate struct {
		release chan error
	}
	gates := make(chan gate, 8)
	b := NewBatcher(f.commit, 0, WithDurable(func() func() error {
		g := gate{release: make(chan error, 1)}
		gates <- g
		return func() error { return <-g.release }
	}))

	save := func(id string) chan result {
		ch := make(chan result, 1)
		go func() {
			o, err := b.Save(context.Background(), &store.Event{ID: id})
			ch <- result{o, err}
		}()
		return ch
	}
	first := save("a")
	g1 := <-gates // "a" committed, not yet durable
	select {
	case r := <-first:
		t.Fatalf("Save answered %+v before its commit was durable", r)
	case <-time.After(50 * time.Millisecond):
	}
	second := save("b")
	g2 := <-gates // "b" committed while "a" waits for its sync
	if f.calls() != 2 {
		t.Fatalf("%d commits, want the second batch committed while the first waits", f.calls())
	}
	g1.release <- nil
	if r := <-first; r.err != nil || r.outcome != store.Stored {
		t.Errorf("first Save = %+v, want Stored", r)
	}
	failed := errors.New("fsync: input/output error")
	g2.release <- failed
	if r := <-second; !errors.Is(r.err, failed) {
		t.Errorf("second Save = %+v, want the sync's error", r)
	}

	third := save("c")
	g3 := <-gates
	done := make(chan struct{})
	go func() { b.Close(); close(done) }()
	select {
	case <-done:
		t.Fatal("Close returned while a committed batch still waited to be durable")
	case <-time.After(50 * time.Millisecond):
	}
	g3.release <- nil
	<-done
	if r := <-third; r.err != nil {
		t.Errorf("third Save = %+v", r)
	}
}
