package postgres

import (
	"context"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// sweepSQL queues a refresh, due now, of every study with a status in $3
// seen at or after $4 (NULL for all), in one statement, so replicas sweeping
// at once neither duplicate jobs nor lose a requeue. Debounced like
// enqueueSQL: a pending job is left alone, a leased one not yet marked is
// marked to run once more.
const sweepSQL = `INSERT INTO jobs AS j (kind, key, due_at, created_at)
	SELECT $1, id, $2, $2 FROM studies
	WHERE status = ANY($3::text[])
		AND ($4::timestamptz IS NULL OR last_event_at >= $4 OR updated_at >= $4)
	ON CONFLICT (kind, key) DO UPDATE SET requeue = TRUE
	WHERE j.locked_until > excluded.created_at AND NOT j.requeue`

// EnqueueStudyRefreshes queues a refresh of every study whose status is in
// statuses and that was seen at or after seenSince (see store.Store). It
// queues whether or not Options.Enrich is set.
func (d *DB) EnqueueStudyRefreshes(ctx context.Context, statuses []string, seenSince time.Time) (int, error) {
	if err := d.check(); err != nil {
		return 0, err
	}
	if len(statuses) == 0 {
		return 0, nil
	}
	var since *time.Time
	if !seenSince.IsZero() {
		since = &seenSince
	}
	tag, err := d.pool.Exec(ctx, sweepSQL, store.JobRefreshStudy, d.clock(), statuses, since)
	if err != nil {
		return 0, d.wrap("enqueue study refreshes", err)
	}
	return int(tag.RowsAffected()), nil
}
