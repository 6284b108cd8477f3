package store

import (
	"context"
	"time"

	"github.com/rs/zerolog"
)

// Pruner is the part of Store the retention loop uses.
type Pruner interface {
	PruneEvents(ctx context.Context, before time.Time, limit int) (int, error)
	PruneActions(ctx context.Context, before time.Time, limit int) (int, error)
}

// Retention loop tuning. They are variables so tests can shrink them.
var (
	// pruneFirstDelay is how long after the start the first prune runs
	// (or one interval, when that is shorter), so it does not compete
	// with start-up and the first deliveries.
	pruneFirstDelay = time.Minute
	// pruneChunk is how many events one PruneEvents call deletes at most.
	pruneChunk = 5000
	// prunePause separates chunks, so Saves (on SQLite, the one writer
	// connection) get their turn between two deletes.
	prunePause = 200 * time.Millisecond
	// pruneMaxChunks bounds one run (10 million events at 5,000 a chunk);
	// what is left waits for the next interval.
	pruneMaxChunks = 2000
)

// pruneTimeout bounds one PruneEvents call.
const pruneTimeout = time.Minute

// RunPruner deletes stored events received more than retention ago, with
// their aliases, and the rule actions (audit rows) that finished more than
// retention ago, about a minute after the start and then every interval,
// until ctx is done. Each run deletes in chunks of 5,000 rows, pausing
// between chunks, until a chunk comes back short. Projections and pending
// actions are kept. Failures are logged once per streak and retried at the
// next interval. It returns at once when retention or interval is not
// positive.
//
// A pruned event is forgotten: delivered again, it would be stored as new.
// Callers therefore keep retention far beyond Prolific's retry window.
func RunPruner(ctx context.Context, s Pruner, retention, interval time.Duration, log zerolog.Logger) {
	if retention <= 0 || interval <= 0 {
		return
	}
	t := time.NewTimer(min(pruneFirstDelay, interval))
	defer t.Stop()
	kinds := []struct {
		what    string
		prune   func(context.Context, time.Time, int) (int, error)
		failing bool
	}{
		{what: "old events", prune: s.PruneEvents},
		{what: "old rule actions", prune: s.PruneActions},
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		before := time.Now().Add(-retention)
		for i := range kinds {
			k := &kinds[i]
			n, err := pruneOnce(ctx, k.prune, before)
			switch {
			case err != nil && ctx.Err() != nil:
				return
			case err != nil:
				if !k.failing {
					log.Warn().Err(err).Int("deleted", n).Msgf("retention: pruning %s failed; retrying at the next interval", k.what)
					k.failing = true
				}
			case k.failing:
				log.Info().Int("deleted", n).Msgf("retention: pruning %s works again", k.what)
				k.failing = false
			case n > 0:
				log.Info().Int("deleted", n).Time("before", before).Msgf("retention: pruned %s", k.what)
			}
		}
		t.Reset(interval)
	}
}

// pruneOnce deletes rows older than before with prune, chunk by chunk, and
// returns how many it deleted.
func pruneOnce(ctx context.Context, prune func(context.Context, time.Time, int) (int, error), before time.Time) (int, error) {
	total := 0
	for range pruneMaxChunks {
		cctx, cancel := context.WithTimeout(ctx, pruneTimeout)
		n, err := prune(cctx, before, pruneChunk)
		cancel()
		total += n
		if err != nil {
			return total, err
		}
		if n < pruneChunk {
			return total, nil
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(prunePause):
		}
	}
	return total, nil
}
