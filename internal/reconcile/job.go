package reconcile

import (
	"context"
	"sync"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// JobKey is the key of the one reconciliation job (store.JobReconcile):
// every trigger, on every replica, queues this same job, so only one pass
// runs at a time across replicas and triggers that come while one is
// queued fold into it.
const JobKey = "pass"

// MarkPass is the reconcile mark (kind MarkPass, key JobKey) recording the
// last full pass that succeeded, so every replica can export it.
const MarkPass = "pass"

// Queue is the part of store.Store the scheduler uses.
type Queue interface {
	EnqueueJob(ctx context.Context, kind, key string, dueAt time.Time) error
	ReconcileMarks(ctx context.Context, kind string) (map[string]time.Time, error)
}

// RunJob runs the pass a claimed reconciliation job asks for (the
// enrichment worker calls it for store.JobReconcile jobs) and records its
// success for every replica. An error makes the worker retry the job with
// back-off (after a 429, once the rate-limit pause is over).
func (r *Reconciler) RunJob(ctx context.Context, key string) error {
	r.opts.Log.Debug().Str("key", key).Msg("reconcile: pass starting")
	if _, err := r.Run(ctx, Request{}); err != nil {
		return err
	}
	if err := r.st.SetReconcileMark(ctx, MarkPass, JobKey, r.opts.Now()); err != nil {
		r.opts.Log.Warn().Err(err).Msg("reconcile: recording the pass's success failed")
	}
	return nil
}

// Scheduler queues reconciliation passes: one at start-up, one every
// interval, and one at once on Trigger (failed deliveries seen). Build it
// with NewScheduler and call Run on every replica.
type Scheduler struct {
	q        Queue
	interval time.Duration
	notify   func()
	metrics  *Metrics
	r        *Reconciler
	trigger  chan string

	mu   sync.Mutex
	last time.Time // the newest pass success seen
}

// NewScheduler returns a scheduler queueing on q every interval (<= 0:
// only at start-up and on Trigger); notify wakes the worker that claims jobs.
func NewScheduler(r *Reconciler, q Queue, interval time.Duration, notify func()) *Scheduler {
	if notify == nil {
		notify = func() {}
	}
	return &Scheduler{q: q, interval: interval, notify: notify, metrics: r.opts.Metrics, r: r,
		trigger: make(chan string, 1)}
}

// Trigger asks for a pass now (reason is logged). It never blocks.
func (s *Scheduler) Trigger(reason string) {
	select {
	case s.trigger <- reason:
	default:
	}
}

// markRefresh is how often the scheduler reads the last pass success from
// the store, for the gauge on replicas that did not run the pass.
const markRefresh = time.Minute

// Run queues the start-up pass, then the periodic ones and those
// triggered, until ctx is done. A periodic pass is skipped when a pass
// succeeded within the last half interval (another replica's, say).
func (s *Scheduler) Run(ctx context.Context) {
	log := s.r.opts.Log
	s.enqueue(ctx, "start-up")
	var tick <-chan time.Time
	if s.interval > 0 {
		t := time.NewTicker(s.interval)
		defer t.Stop()
		tick = t.C
	}
	refresh := time.NewTicker(markRefresh)
	defer refresh.Stop()
	s.refreshGauge(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			s.refreshGauge(ctx)
			s.mu.Lock()
			recent := !s.last.IsZero() && s.r.opts.Now().Sub(s.last) < s.interval/2
			s.mu.Unlock()
			if recent {
				log.Debug().Msg("reconcile: a pass succeeded recently; periodic pass skipped")
				continue
			}
			s.enqueue(ctx, "periodic")
		case reason := <-s.trigger:
			s.enqueue(ctx, reason)
		case <-refresh.C:
			s.refreshGauge(ctx)
		}
	}
}

func (s *Scheduler) enqueue(ctx context.Context, reason string) {
	if err := s.q.EnqueueJob(ctx, store.JobReconcile, JobKey, s.r.opts.Now()); err != nil {
		if ctx.Err() == nil {
			s.r.opts.Log.Warn().Err(err).Str("reason", reason).Msg("reconcile: queueing a pass failed; the next trigger retries")
		}
		return
	}
	s.r.opts.Log.Info().Str("reason", reason).Msg("reconcile: pass queued")
	s.notify()
}

// refreshGauge reads the last pass success from the store.
func (s *Scheduler) refreshGauge(ctx context.Context) {
	marks, err := s.q.ReconcileMarks(ctx, MarkPass)
	if err != nil {
		return
	}
	if at, ok := marks[JobKey]; ok {
		s.mu.Lock()
		if at.After(s.last) {
			s.last = at
		}
		s.mu.Unlock()
		s.metrics.setLastSuccess(at)
	}
}
