package enrich

import (
	"context"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// Sweeper is the part of store.Store the polling sweep uses.
type Sweeper interface {
	EnqueueStudyRefreshes(ctx context.Context, statuses []string, seenSince time.Time) (int, error)
}

// sweepStatuses are the study statuses the sweep refreshes.
var sweepStatuses = store.MovingStudyStatuses

// sweepTimeout bounds one sweep's store call.
const sweepTimeout = 30 * time.Second

// Sweep is the backstop for missed webhooks (webhooks.md §2.8): every
// interval it queues a refresh (store.JobRefreshStudy, due at once) of every
// study still moving (ACTIVE, PAUSED, AWAITING REVIEW, SCHEDULED, PUBLISHING
// or not yet known) that was seen within retention, then wakes the worker.
// The store's debounce keeps it from duplicating queued work, so replicas
// can all sweep. The first sweep runs one interval after the start; a
// retention <= 0 sweeps studies however old. Failures are logged once per
// streak and retried at the next interval. Sweep returns nil when ctx is
// done, at once when interval <= 0.
func (w *Worker) Sweep(ctx context.Context, st Sweeper, interval, retention time.Duration) error {
	if interval <= 0 {
		return nil
	}
	log := w.opts.Log
	failing := false
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		var since time.Time
		if retention > 0 {
			since = w.opts.Now().Add(-retention)
		}
		sctx, cancel := context.WithTimeout(ctx, sweepTimeout)
		n, err := st.EnqueueStudyRefreshes(sctx, sweepStatuses, since)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			if !failing {
				log.Warn().Err(err).Msg("enrichment: polling sweep failed; retrying at the next interval")
				failing = true
			}
			continue
		case failing:
			log.Info().Msg("enrichment: polling sweep works again")
			failing = false
		}
		log.Debug().Int("queued", n).Msg("enrichment: polling sweep queued study refreshes")
		if n > 0 {
			w.Notify()
		}
	}
}
