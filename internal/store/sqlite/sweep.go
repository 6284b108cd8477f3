package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// sqlSweep queues a refresh, due now, of every study with a status in the
// JSON array ?3 seen at or after ?4. Debounced like sqlEnqueue: a pending
// job is left alone, a leased one not yet marked is marked to run once more.
// The WHERE clause also keeps SQLite from parsing ON CONFLICT as a join.
const sqlSweep = `INSERT INTO jobs (kind, key, due_at, created_at)
	SELECT ?1, id, ?2, ?2 FROM studies
	WHERE status IN (SELECT value FROM json_each(?3))
		AND (last_event_at >= ?4 OR updated_at >= ?4)
	ON CONFLICT (kind, key) DO UPDATE SET requeue = 1
	WHERE jobs.locked_by <> '' AND jobs.locked_until > ?2 AND jobs.requeue = 0`

// EnqueueStudyRefreshes queues a refresh of every study whose status is in
// statuses and that was seen at or after seenSince (see store.Store). It
// queues whether or not Options.Enrich is set.
func (db *DB) EnqueueStudyRefreshes(ctx context.Context, statuses []string, seenSince time.Time) (int, error) {
	if db.closed.Load() {
		return 0, store.ErrClosed
	}
	if len(statuses) == 0 {
		return 0, nil
	}
	list, err := json.Marshal(statuses)
	if err != nil {
		return 0, fmt.Errorf("enqueue study refreshes: encode statuses: %w", err)
	}
	return db.execCount(ctx, "enqueue study refreshes", sqlSweep,
		store.JobRefreshStudy, micros(db.opts.Now()), string(list), micros(seenSince))
}
