package backend

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// CommitFunc stores events in one transaction and returns one Outcome per
// event, in order. It returns an error only when nothing was committed.
type CommitFunc func(ctx context.Context, events []*store.Event) ([]store.Outcome, error)

// Batcher groups concurrent Saves into one commit (group commit): a committer
// takes the first waiting request, adds whatever else is already waiting (up
// to maxBatch) without sleeping, calls commit once and answers every caller
// with its own outcome. Both backends use it.
//
// Poison isolation: with WithIsolate, a failed batch of several events whose
// error the backend classifies as caused by the data (one event the database
// refuses) is committed again one event per commit, so only the offending
// caller gets an error. Other failures (database down, store closed) answer
// every caller with the batch's error after the one attempt.
//
// Cancellation: a caller whose context ends while its event still waits in the
// queue gets ctx.Err() and the event is never committed. Once the event has
// been handed to commit, the caller waits for the true result even if its
// context ends, because reporting a failure for an event that may be
// committed would be a lie (the handler would answer 503 for a stored event;
// harmless, but an acknowledged loss is not, so we never guess).
type Batcher struct {
	commit   CommitFunc
	maxBatch int
	isolate  func(error) bool
	observe  store.CommitObserver
	durable  DurableFunc

	// With a DurableFunc: committed batches waiting to become durable, for
	// the answerer goroutine. Unbuffered: one batch waits for its sync while
	// the committer commits the next, and no more.
	pending  chan pendingBatch
	answered sync.WaitGroup

	mu     sync.Mutex
	queue  []*request
	closed bool
	busy   int // committers holding a batch (see WithCommitters)

	wake     chan struct{} // capacity 1: "the queue may be non-empty"
	stop     chan struct{} // closed by Close
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// BatcherOption tunes a Batcher.
type BatcherOption func(*batcherConfig)

type batcherConfig struct {
	committers int
	isolate    func(error) bool
	observe    store.CommitObserver
	durable    DurableFunc
}

// DurableFunc is called on the committer goroutine right after a commit
// returns and gives the wait that returns nil once that commit is durable
// (or the error that keeps it from being so). See WithDurable.
type DurableFunc func() (wait func() error)

// WithDurable is for a backend whose commit makes a batch visible before it
// is durable (SQLite's writer, whose log is synced apart from the commit):
// the Batcher answers a batch's callers only after durable's wait returned
// nil for it (with the wait's error otherwise), from a goroutine of its own,
// while the committer commits the next batch. One batch waits at a time, so
// a sync overlaps the next commit and no more.
func WithDurable(durable DurableFunc) BatcherOption {
	return func(c *batcherConfig) { c.durable = durable }
}

type pendingBatch struct {
	batch    []*request
	outcomes []store.Outcome
	wait     func() error
}

// WithCommitters runs n committer goroutines (default 1). Use more than one
// only with a database that allows concurrent write transactions
// (PostgreSQL); each committer still commits one batch at a time. A
// committer starts a batch while another is committing only once a full
// batch (maxBatch events) waits: until then the busy committer takes
// everything waiting in its next batch, and a concurrent transaction of a
// few events would only add a commit (a WAL flush and row locks the others
// wait for) without serving anyone sooner. So at moderate load one
// transaction runs at a time, and the others add throughput only when one
// committer cannot keep up even with full batches.
func WithCommitters(n int) BatcherOption {
	return func(c *batcherConfig) { c.committers = n }
}

// WithIsolate makes the Batcher retry a failed batch of more than one event
// one event per commit when isolate(err) reports that the batch's error may
// come from one event's data (a constraint or data error) rather than from
// the database or the connection. isolate must answer false for
// connectivity, timeout and closed-store errors, or an outage would cost one
// failed commit per event instead of one per batch. During isolation, the
// first single-event failure that isolate does not accept ends it: the rest
// of the batch gets that error without further attempts.
func WithIsolate(isolate func(error) bool) BatcherOption {
	return func(c *batcherConfig) { c.isolate = isolate }
}

// WithCommitObserver makes the Batcher call observe after every commit it
// attempts (isolation retries included) with the number of events, the
// time commit took and its error; nil observe does nothing. observe runs
// on the committer goroutine, before the callers are answered: keep it
// cheap (a histogram update).
func WithCommitObserver(observe store.CommitObserver) BatcherOption {
	return func(c *batcherConfig) { c.observe = observe }
}

type request struct {
	e     *store.Event
	state atomic.Int32 // reqQueued, reqTaken or reqWithdrawn
	done  chan result
}

const (
	reqQueued int32 = iota
	reqTaken
	reqWithdrawn
)

type result struct {
	outcome store.Outcome
	err     error
}

// DefaultMaxBatch is used when NewBatcher gets maxBatch <= 0.
const DefaultMaxBatch = 256

// NewBatcher starts the committer goroutine(s) calling commit. maxBatch <= 0
// means DefaultMaxBatch. Call Close to stop it.
func NewBatcher(commit CommitFunc, maxBatch int, opts ...BatcherOption) *Batcher {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	cfg := batcherConfig{committers: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.committers < 1 {
		cfg.committers = 1
	}
	b := &Batcher{
		commit:   commit,
		maxBatch: maxBatch,
		isolate:  cfg.isolate,
		observe:  cfg.observe,
		durable:  cfg.durable,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	if b.durable != nil {
		b.pending = make(chan pendingBatch)
		b.answered.Add(1)
		go b.answer()
	}
	b.wg.Add(cfg.committers)
	for range cfg.committers {
		go b.run()
	}
	return b
}

// answer answers committed batches once they are durable.
func (b *Batcher) answer() {
	defer b.answered.Done()
	for p := range b.pending {
		reply(p.batch, p.outcomes, p.wait())
	}
}

// reply answers each caller of batch with its outcome, or every one with err.
func reply(batch []*request, outcomes []store.Outcome, err error) {
	for i, r := range batch {
		if err != nil {
			r.done <- result{err: err}
			continue
		}
		r.done <- result{outcome: outcomes[i]}
	}
}

// Save queues e for the next commit and waits until it is committed (and,
// with WithDurable, durable). It
// returns ErrClosed after Close, ctx.Err() if ctx ends before e was handed to
// commit, and commit's error (wrapped) if the batch holding e failed.
func (b *Batcher) Save(ctx context.Context, e *store.Event) (store.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r := &request{e: e, done: make(chan result, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, store.ErrClosed
	}
	b.queue = append(b.queue, r)
	b.mu.Unlock()
	b.signal()

	select {
	case res := <-r.done:
		return res.outcome, res.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqWithdrawn) {
			return 0, ctx.Err()
		}
		res := <-r.done // handed over: wait for the true result
		return res.outcome, res.err
	}
}

// Close stops accepting Saves (they return ErrClosed), commits everything
// already queued and waits for the committers (and, with WithDurable, the
// answers) to finish. It is safe to call more than once; a call during
// another waits for it.
func (b *Batcher) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.stopOnce.Do(func() {
		close(b.stop)
		b.wg.Wait()
		if b.pending != nil {
			close(b.pending)
			b.answered.Wait()
		}
	})
}

func (b *Batcher) signal() {
	select {
	case b.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func (b *Batcher) run() {
	defer b.wg.Done()
	for {
		batch, closed := b.take()
		if len(batch) > 0 {
			b.flush(batch)
			continue
		}
		if closed {
			return
		}
		select {
		case <-b.wake:
		case <-b.stop:
		}
	}
}

// take removes up to maxBatch waiting requests that were not withdrawn and
// marks them handed over; it takes none while another committer is busy and
// fewer than maxBatch wait (see WithCommitters), unless the Batcher is
// closed. A committer given a batch counts as busy until its commit
// returned (flush calls done).
func (b *Batcher) take() ([]*request, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.busy > 0 && len(b.queue) < b.maxBatch && !b.closed {
		// Another committer is at work and will take these next, in one
		// batch: a concurrent transaction would only add a commit.
		return nil, false
	}
	var batch []*request
	i := 0
	for ; i < len(b.queue) && len(batch) < b.maxBatch; i++ {
		r := b.queue[i]
		b.queue[i] = nil
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			batch = append(batch, r)
		}
	}
	b.queue = b.queue[i:]
	if len(b.queue) == 0 {
		b.queue = nil
	}
	if len(batch) > 0 {
		b.busy++
	}
	return batch, b.closed
}

// done marks the calling committer idle again.
func (b *Batcher) done() {
	b.mu.Lock()
	b.busy--
	b.mu.Unlock()
}

func (b *Batcher) flush(batch []*request) {
	events := make([]*store.Event, len(batch))
	for i, r := range batch {
		events[i] = r.e
	}
	outcomes, err := b.commitEvents(events)
	// Idle from here on for take's rule: answering, and the one commit per
	// event of an isolation, must not hold back new arrivals.
	b.done()
	if err != nil && len(batch) > 1 && b.isolate != nil && b.isolate(err) {
		b.flushEach(batch)
		return
	}
	if err == nil && b.durable != nil {
		b.pending <- pendingBatch{batch: batch, outcomes: outcomes, wait: b.durable()}
		return
	}
	reply(batch, outcomes, err)
}

// flushEach commits the events of a failed batch one per commit, in queue
// order, answering each caller with its own result. A failure that isolate
// does not accept (the database went away meanwhile) is given to the
// remaining callers without trying their events, so an outage costs at most
// one more failed commit.
func (b *Batcher) flushEach(batch []*request) {
	var fatal error
	for _, r := range batch {
		if fatal != nil {
			r.done <- result{err: fatal}
			continue
		}
		outcomes, err := b.commitEvents([]*store.Event{r.e})
		if err == nil && b.durable != nil {
			err = b.durable()()
		}
		if err != nil {
			if !b.isolate(err) {
				fatal = err
			}
			r.done <- result{err: err}
			continue
		}
		r.done <- result{outcome: outcomes[0]}
	}
}

// commitEvents calls commit and checks it returned one outcome per event.
func (b *Batcher) commitEvents(events []*store.Event) ([]store.Outcome, error) {
	// The batch serves many callers, so no single caller's context may cancel it.
	start := time.Now()
	outcomes, err := b.commit(context.Background(), events)
	if err == nil && len(outcomes) != len(events) {
		err = fmt.Errorf("commit returned %d outcomes for %d events", len(outcomes), len(events))
	}
	if b.observe != nil {
		b.observe(len(events), time.Since(start), err)
	}
	return outcomes, err
}
