package sqlite

import (
	"context"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// sqlPruneSelect picks up to ?2 events received before ?1, oldest first,
// through the events_received_at index. Both statements of a prune run it
// inside one write transaction, so they see the same events.
const sqlPruneSelect = `SELECT seq FROM events WHERE received_at < ?1 ORDER BY received_at, seq LIMIT ?2`

const (
	sqlPruneAliases = `DELETE FROM event_aliases WHERE event_id IN
		(SELECT id FROM events WHERE seq IN (` + sqlPruneSelect + `))`
	sqlPruneEvents = `DELETE FROM events WHERE seq IN (` + sqlPruneSelect + `)`
)

// PruneEvents deletes up to limit events received before before, oldest
// first, with their aliases and keys (eventkeys.go), in one transaction on the writer connection,
// and returns how many events it deleted (see store.Store). Saves wait
// while it runs, which is why callers keep limit modest.
func (db *DB) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	if db.closed.Load() {
		return 0, store.ErrClosed
	}
	if limit <= 0 {
		return 0, nil
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, db.wrap("prune events", err)
	}
	defer tx.Rollback()
	cutoff := micros(before)
	if _, err := tx.ExecContext(ctx, sqlPruneAliases, cutoff, limit); err != nil {
		return 0, db.wrap("prune events: aliases", err)
	}
	for _, q := range []string{sqlPruneStudyKeys, sqlPruneResourceKeys} {
		if _, err := tx.ExecContext(ctx, q, cutoff, limit); err != nil {
			return 0, db.wrap("prune events: keys", err)
		}
	}
	res, err := tx.ExecContext(ctx, sqlPruneEvents, cutoff, limit)
	if err != nil {
		return 0, db.wrap("prune events", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.wrap("prune events", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, db.wrap("prune events", err)
	}
	return int(n), nil
}

// sqlPruneActions deletes up to ?2 rule actions finished before ?1, oldest
// first; pending ones stay. IDs rise with created_at and no action created
// at or after ?1 finished before it, so the walk by ID stops at the first
// such action instead of reading the whole table.
const sqlPruneActions = `DELETE FROM rule_actions WHERE id IN (
	SELECT id FROM rule_actions
	WHERE id < coalesce((SELECT id FROM rule_actions WHERE created_at >= ?1 ORDER BY id LIMIT 1), 9223372036854775807)
		AND outcome <> 'pending' AND finished_at < ?1
	ORDER BY id LIMIT ?2)`

// PruneActions deletes up to limit rule actions finished before before,
// oldest first, on the writer connection, and returns how many it deleted
// (see store.Store).
func (db *DB) PruneActions(ctx context.Context, before time.Time, limit int) (int, error) {
	if db.closed.Load() {
		return 0, store.ErrClosed
	}
	if limit <= 0 {
		return 0, nil
	}
	return db.execCount(ctx, "prune rule actions", sqlPruneActions, micros(before), limit)
}
