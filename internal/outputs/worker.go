package outputs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/prolific-receiver/receiver/internal/backoff"
	"github.com/prolific-receiver/receiver/internal/ctxwait"
	"github.com/prolific-receiver/receiver/internal/store"
)

// Store is the part of the store a worker uses; store.Store satisfies it.
type Store interface {
	ClaimOutbox(ctx context.Context, output, owner string, limit int, lease time.Duration, ordered bool) ([]store.OutboxItem, error)
	CompleteOutbox(ctx context.Context, owner string, ids []int64) error
	RetryOutbox(ctx context.Context, owner string, retries []store.OutboxRetry) error
	DeadLetterOutbox(ctx context.Context, owner string, id int64, reason string) error
	DisableOutput(ctx context.Context, output, reason string) error
}

// Destination delivers one message; HTTP and NATS implement it. An error
// means "not delivered": ErrGone stops the output, a *RetryError may say
// when to try again, any other error is retried with back-off.
type Destination interface {
	Deliver(ctx context.Context, m Message, body []byte) error
	Close() error
}

// ErrGone means the destination answered 410 Gone: the output is disabled
// until an operator resumes it.
var ErrGone = errors.New("destination answered 410 Gone")

// RetryError is a failed attempt the destination asked to retry after
// After (a Retry-After header); After is 0 when it did not say.
type RetryError struct {
	After  time.Duration
	Reason string
}

func (e *RetryError) Error() string { return e.Reason }

// Defaults applied by NewWorker to zero Options fields.
const (
	DefaultPollInterval = time.Second
	DefaultBatch        = 32
	DefaultConcurrency  = 8
	DefaultBackoffBase  = time.Second
	DefaultBackoffMax   = time.Hour
)

// idleGap is the least time between two looks at the outbox when the
// first found nothing due: the most a new event waits on an idle output.
const idleGap = 50 * time.Millisecond

// Options tune a Worker. The zero value uses the defaults above.
type Options struct {
	// Owner names this worker in leases; default hostname-pid-random.
	Owner string
	// PollInterval is how long an idle worker waits before looking again
	// (Notify wakes it sooner).
	PollInterval time.Duration
	// Batch is how many rows one claim takes; Concurrency how many of them
	// are delivered at once.
	Batch, Concurrency int
	// Lease is how long a claimed row stays invisible to other workers; a
	// crashed worker's rows are delivered by another after it. Default:
	// the destination's timeout once per wave of Concurrency attempts a
	// claim of Batch rows needs, plus one more, plus 10 s, so that the
	// last row of a batch to a destination that takes the whole timeout
	// is still leased when it is tried and its outcome stored.
	Lease time.Duration
	// BackoffBase and BackoffMax shape the retry delay: a uniformly random
	// delay up to BackoffBase·2^(attempts-1), capped at BackoffMax (full
	// jitter), and never shorter than the destination's Retry-After.
	BackoffBase, BackoffMax time.Duration
	// Now is the clock and Jitter draws a delay in [0, d]; nil means
	// time.Now and math/rand. Tests inject both so no test sleeps.
	Now    func() time.Time
	Jitter func(d time.Duration) time.Duration
	// Metrics, when set, counts deliveries (NewMetrics).
	Metrics *Metrics
	// Log receives a line per failed attempt, each naming the output;
	// secrets never appear in it.
	Log zerolog.Logger
}

// Worker delivers one output's outbox rows. Build it with NewWorker and
// call Run; several workers (replicas) may work one output at once.
type Worker struct {
	store Store
	out   Output
	dest  Destination
	opts  Options
	wake  chan struct{}

	mu         sync.Mutex
	downStreak int // polls in a row whose every attempt failed
}

// maxDownPause caps how long a worker waits between probes of a
// destination that is down: also the longest a recovered destination
// waits for its first delivery.
const maxDownPause = time.Minute

// downPause is how long Run waits before the next poll because the
// destination is down: 1 s after the first poll whose every attempt
// failed, doubling with each further one, up to maxDownPause; 0 while it
// is up.
func (w *Worker) downPause() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.downStreak == 0 {
		return 0
	}
	return min(maxDownPause, time.Second<<min(w.downStreak-1, 10))
}

// NewWorker returns a worker delivering out's rows from st to dest.
func NewWorker(st Store, out Output, dest Destination, opts Options) *Worker {
	if opts.Owner == "" {
		opts.Owner = store.LeaseOwner()
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Lease <= 0 {
		waves := (opts.Batch + opts.Concurrency - 1) / opts.Concurrency
		opts.Lease = time.Duration(waves+1)*max(out.HTTP.Timeout, out.NATS.Timeout) + 10*time.Second
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = DefaultBackoffBase
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Jitter == nil {
		opts.Jitter = func(d time.Duration) time.Duration { return rand.N(d + 1) }
	}
	opts.Log = opts.Log.With().Str("output", out.Name).Logger()
	return &Worker{store: st, out: out, dest: dest, opts: opts, wake: make(chan struct{}, 1)}
}

// Notify wakes an idle worker to look for rows now: Save queued some.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends. A failing store is retried after the poll
// interval.
func (w *Worker) Run(ctx context.Context) error {
	for {
		n, err := w.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.opts.Log.Error().Err(err).Msg("output worker: store failed")
		}
		if d := w.downPause(); d > 0 {
			// Every attempt of the last poll failed: the destination is
			// down. Probe it again after d instead of trying (and
			// rescheduling) each new event as it comes.
			if !ctxwait.Sleep(ctx, d) {
				return nil
			}
			continue
		}
		if n > 0 && err == nil {
			continue // more may be due
		}
		// Nothing was due: wait for a stored event or the poll interval,
		// but look again no sooner than idleGap, so that a stream of new
		// events for a destination that is down does not turn into a stream
		// of outbox scans.
		gap := time.NewTimer(min(idleGap, w.opts.PollInterval))
		select {
		case <-ctx.Done():
			gap.Stop()
			return nil
		case <-gap.C:
		}
		timer := time.NewTimer(w.opts.PollInterval - min(idleGap, w.opts.PollInterval))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-w.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// result is what one attempt decided for a row.
type result struct {
	item store.OutboxItem
	err  error
}

// Poll claims one batch of due rows, delivers them, and records each
// outcome; it returns how many rows it claimed.
func (w *Worker) Poll(ctx context.Context) (int, error) {
	items, err := w.store.ClaimOutbox(ctx, w.out.Name, w.opts.Owner, w.opts.Batch, w.opts.Lease, w.out.Ordered)
	if err != nil || len(items) == 0 {
		return 0, err
	}
	results := make([]result, len(items))
	g := errgroup.Group{}
	g.SetLimit(w.opts.Concurrency)
	for i, it := range items {
		g.Go(func() error {
			results[i] = result{item: it, err: w.deliver(ctx, it)}
			return nil
		})
	}
	_ = g.Wait()
	// A store write must not be cut short by the shutdown that stopped
	// the deliveries: the rows would be delivered again.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return len(items), w.record(sctx, results, ctx.Err() != nil)
}

// deliver makes one attempt for it, bounded by the destination's timeout.
func (w *Worker) deliver(ctx context.Context, it store.OutboxItem) error {
	if it.Event == nil {
		return errPruned
	}
	m := NewMessage(it.Event)
	return w.dest.Deliver(ctx, m, m.Encode())
}

var errInterrupted = errors.New("interrupted: the receiver stopped during the attempt")

var errPruned = errors.New("the event was pruned (RECEIVER_EVENT_RETENTION) before it was delivered")

// record stores the outcome of each attempt: delivered rows are completed
// in one call.
func (w *Worker) record(ctx context.Context, results []result, stopping bool) error {
	var done []int64
	var retries []store.OutboxRetry
	var errs []error
	now := w.opts.Now()
	var gone sync.Once
	interrupted := 0
	for _, r := range results {
		it := r.item
		switch {
		case r.err != nil && stopping:
			// The receiver is stopping and cut the attempt short: not the
			// destination's failure. The row is due again at once (the
			// next start, or another replica), with no back-off.
			retries = append(retries, store.OutboxRetry{ID: it.ID, At: now, Reason: errInterrupted.Error()})
			interrupted++
			continue
		case r.err == nil:
			done = append(done, it.ID)
			if w.opts.Metrics != nil && it.Event != nil {
				w.opts.Metrics.delivered(w.out.Name, now.Sub(it.Event.ReceivedAt))
			}
		case errors.Is(r.err, ErrGone):
			gone.Do(func() {
				w.opts.Log.Error().Msg("output disabled: the destination answered 410 Gone; `receiver outputs resume " + w.out.Name + "` enables it again")
				errs = append(errs, w.store.DisableOutput(ctx, w.out.Name, r.err.Error()))
			})
			retries = append(retries, store.OutboxRetry{ID: it.ID, At: now, Reason: r.err.Error()})
		case errors.Is(r.err, errPruned) || now.Sub(it.AgeFrom) >= w.out.MaxAge:
			reason := r.err.Error()
			if !errors.Is(r.err, errPruned) {
				reason = fmt.Sprintf("undelivered after %s (max_age), %d attempts; last: %s", w.out.MaxAge, it.Attempts, r.err)
			}
			w.opts.Log.Error().Int64("outbox_id", it.ID).Str("reason", reason).Msg("output: dead-lettered")
			if w.opts.Metrics != nil {
				w.opts.Metrics.deadLettered(w.out.Name)
			}
			errs = append(errs, w.store.DeadLetterOutbox(ctx, w.opts.Owner, it.ID, reason))
		default:
			at := w.retryAt(now, it, r.err)
			w.opts.Log.Warn().Int64("outbox_id", it.ID).Int("attempts", it.Attempts).
				Time("retry_at", at).Str("reason", r.err.Error()).Msg("output: delivery failed, will retry")
			if w.opts.Metrics != nil {
				w.opts.Metrics.retried(w.out.Name)
			}
			retries = append(retries, store.OutboxRetry{ID: it.ID, At: at, Reason: r.err.Error()})
		}
	}
	if interrupted > 0 {
		w.opts.Log.Info().Int("events", interrupted).Msg("output: deliveries interrupted by shutdown, due again at once")
	}
	w.mu.Lock()
	switch {
	case len(done) > 0:
		w.downStreak = 0
	case len(retries) > interrupted:
		w.downStreak++
	}
	w.mu.Unlock()
	errs = append(errs, w.store.RetryOutbox(ctx, w.opts.Owner, retries), w.store.CompleteOutbox(ctx, w.opts.Owner, done))
	return errors.Join(errs...)
}

// retryAt is when a row that failed its attempts-th attempt is tried
// again: full jitter over an exponential ceiling, at least the
// destination's Retry-After, and never after its maximum age runs out (that
// last attempt decides whether it is dead-lettered).
func (w *Worker) retryAt(now time.Time, it store.OutboxItem, err error) time.Time {
	delay := w.opts.Jitter(backoff.Bound(w.opts.BackoffBase, w.opts.BackoffMax, it.Attempts))
	var re *RetryError
	if errors.As(err, &re) && re.After > delay {
		delay = re.After
	}
	at := now.Add(delay)
	if last := it.AgeFrom.Add(w.out.MaxAge); at.After(last) {
		at = last
	}
	return at
}
