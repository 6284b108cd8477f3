// Package enrich runs the enrichment worker: it claims due jobs from the
// store's durable queue (queued in the same transaction as the webhook that
// asked for them), asks Prolific's API for a study's name, places and
// submission counts or for a submission's study, records the answer in the
// store, and completes or reschedules each job. See docs/enrichment.md.
package enrich

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// EnrichStore is the part of store.Store the worker uses.
type EnrichStore interface {
	ClaimJobs(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.Job, error)
	CompleteJob(ctx context.Context, owner string, j store.Job) error
	RetryJob(ctx context.Context, owner string, j store.Job, retryAt time.Time, reason string) error
	ApplyStudySnapshot(ctx context.Context, s store.StudySnapshot) error
	SetSubmissionStudy(ctx context.Context, submissionID, studyID string) error
	SetSubmissionsStudy(ctx context.Context, studyID string, submissionIDs []string) error
	Submission(ctx context.Context, id string) (*store.Submission, error)
	QueueStats(ctx context.Context) (store.QueueStats, error)
}

// API is the part of the Prolific client the worker calls; *prolific.Client
// satisfies it.
type API interface {
	Study(ctx context.Context, id string) (prolific.Study, error)
	SubmissionCounts(ctx context.Context, studyID string) (map[string]int, error)
	Submission(ctx context.Context, id string) (prolific.Submission, error)
	StudySubmissions(ctx context.Context, studyID string, page, pageSize int) ([]prolific.Submission, error)
}

// Defaults applied by New to zero Options fields.
const (
	DefaultConcurrency    = 2
	DefaultPollInterval   = time.Second
	DefaultLease          = 5 * time.Minute
	DefaultJobTimeout     = 2 * time.Minute
	DefaultBackoffBase    = 5 * time.Second
	DefaultBackoffMax     = 10 * time.Minute
	DefaultRatePerSecond  = prolific.DefaultRatePerSecond
	DefaultBurst          = prolific.DefaultBurst
	DefaultRateLimitPause = prolific.DefaultRateLimitPause
)

// Options tune a Worker. The zero value uses the defaults above.
type Options struct {
	// Concurrency is how many jobs are claimed and run at once.
	Concurrency int
	// PollInterval is how long the worker sleeps when no job is due.
	PollInterval time.Duration
	// Limiter is the rate limit and 429 pause of the calls to Prolific's
	// API, shared by all of the worker's jobs and with whatever else the
	// process calls Prolific for. Nil builds one of the worker's own from
	// RatePerSecond, Burst, RateLimitPause and BackoffMax.
	Limiter *prolific.Limiter
	// RatePerSecond and Burst limit the calls to Prolific's API when
	// Limiter is nil.
	RatePerSecond float64
	Burst         int
	// Lease is how long a claimed job stays invisible to other workers; a
	// crashed worker's jobs become claimable again after it.
	Lease time.Duration
	// JobTimeout bounds one job's API calls and store writes; it is capped
	// below Lease so a slow job cannot outlive its lease.
	JobTimeout time.Duration
	// BackoffBase and BackoffMax shape a failed job's retry delay:
	// BackoffBase·2^(attempts-1), capped at BackoffMax, with jitter.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// RateLimitPause is how long the whole worker stops calling Prolific
	// after a 429 that the client's own retries did not overcome; it doubles
	// with each consecutive 429, capped at BackoffMax (when Limiter is nil).
	RateLimitPause time.Duration
	// Owner names this worker in job leases; default hostname-pid-random.
	Owner string
	// Metrics, when set, counts jobs (NewMetrics).
	Metrics *Metrics
	// Log receives one line per failed job; the API token never appears in it.
	Log zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Handlers run jobs of other kinds than enrichment's own (e.g.
	// store.JobReconcile), with the job's key, under the same leases,
	// retries and rate-limit pauses; each may run for up to nine tenths
	// of Lease.
	Handlers map[string]func(ctx context.Context, key string) error
	// RosterEvery and RosterPages shape the listing of a study's
	// submissions that a submission lookup makes while other jobs wait
	// (roster.go): a study is listed at most once per RosterEvery, and at
	// most RosterPages pages of it. Zero means the defaults; RosterPages < 0
	// never lists.
	RosterEvery time.Duration
	RosterPages int
}

// Worker processes the enrichment queue. Build it with New and call Run.
type Worker struct {
	store EnrichStore
	api   API
	opts  Options
	lim   *prolific.Limiter
	wake  chan struct{}
	long  sync.WaitGroup // jobs of Handlers' kinds, which run beside the batches

	rosters rosters // when each study's submissions were last listed
}

// New returns a worker that takes jobs from st and asks api.
func New(st EnrichStore, api API, opts Options) *Worker {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.JobTimeout <= 0 {
		opts.JobTimeout = DefaultJobTimeout
	}
	opts.JobTimeout = min(opts.JobTimeout, opts.Lease*9/10)
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = DefaultBackoffBase
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	if opts.Owner == "" {
		opts.Owner = store.LeaseOwner()
	}
	if opts.RosterEvery <= 0 {
		opts.RosterEvery = DefaultRosterEvery
	}
	if opts.RosterPages == 0 {
		opts.RosterPages = DefaultRosterPages
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	lim := opts.Limiter
	if lim == nil {
		lim = prolific.NewLimiter(prolific.LimiterOptions{RatePerSecond: opts.RatePerSecond, Burst: opts.Burst,
			Pause: opts.RateLimitPause, MaxPause: opts.BackoffMax, Now: opts.Now})
	}
	return &Worker{store: st, api: api, opts: opts, lim: lim, wake: make(chan struct{}, 1)}
}

// Owner is the name this worker leases jobs under.
func (w *Worker) Owner() string { return w.opts.Owner }

// Notify wakes an idle worker to look for due jobs now rather than after
// PollInterval. It never blocks.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run claims and processes jobs until ctx is done, then releases the jobs it
// still holds and returns nil. Store errors are logged (once per outage) and
// retried with back-off; they do not end Run. Stop Run before closing the store.
func (w *Worker) Run(ctx context.Context) error {
	log := w.opts.Log
	storeDown := false
	idle := w.opts.PollInterval
	for ctx.Err() == nil {
		if w.lim.WaitPause(ctx) != nil {
			break
		}
		jobs, err := w.store.ClaimJobs(ctx, w.opts.Owner, w.opts.Concurrency, w.opts.Lease)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if !storeDown {
				log.Error().Err(err).Msg("enrichment: claiming jobs failed; retrying")
				storeDown = true
			}
			idle = min(idle*2, 30*time.Second)
			w.sleep(ctx, idle)
			continue
		}
		if storeDown {
			log.Info().Msg("enrichment: claiming jobs works again")
			storeDown = false
		}
		idle = w.opts.PollInterval
		w.runBatch(ctx, jobs)
		if len(jobs) < w.opts.Concurrency {
			w.sleep(ctx, idle)
		}
	}
	w.long.Wait()
	return nil
}

// runBatch processes jobs concurrently and waits for all of them.
// A job of one of Options.Handlers' kinds (a reconciliation pass, which may
// take minutes) runs on beside the batch instead, so enrichment goes on
// meanwhile; Run waits for it before returning.
func (w *Worker) runBatch(ctx context.Context, jobs []store.Job) {
	var wg sync.WaitGroup
	for _, j := range jobs {
		if _, ok := w.opts.Handlers[j.Kind]; ok {
			w.long.Go(func() { w.handle(ctx, j) })
			continue
		}
		wg.Go(func() { w.handle(ctx, j) })
	}
	wg.Wait()
}

// sleep waits d, or until Notify or ctx is done.
func (w *Worker) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-w.wake:
	case <-t.C:
	}
}
