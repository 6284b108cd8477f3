package postgres

import (
	"context"
	"time"
)

// pruneSQL deletes up to $2 events received before $1, oldest first, and
// their aliases, in one statement. FOR UPDATE SKIP LOCKED lets replicas
// prune at once without waiting for each other or deleting the same rows,
// and skips an event whose alias a concurrent Save is inserting (its
// foreign-key check holds a lock on the event). The foreign key from
// event_aliases is checked at the end of the statement, after the aliases
// went.
const pruneSQL = `WITH doomed AS (
		SELECT seq, id FROM events
		WHERE received_at < $1
		ORDER BY received_at, seq
		LIMIT $2
		FOR UPDATE SKIP LOCKED
	), aliases AS (
		DELETE FROM event_aliases WHERE event_id IN (SELECT id FROM doomed)
	)
	DELETE FROM events WHERE seq IN (SELECT seq FROM doomed)`

// PruneEvents deletes up to limit events received before before, oldest
// first, with their aliases, and returns how many events it deleted (see
// store.Store). Projections and jobs are not touched.
func (d *DB) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	return d.prune(ctx, "prune events", pruneSQL, before, limit)
}

// prune runs q, one of the prune statements, with the cutoff and limit,
// and returns how many rows it deleted.
func (d *DB) prune(ctx context.Context, op, q string, before time.Time, limit int) (int, error) {
	if err := d.check(); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, nil
	}
	tag, err := d.pool.Exec(ctx, q, pgTime(before), limit)
	if err != nil {
		return 0, d.wrap(op, err)
	}
	return int(tag.RowsAffected()), nil
}

// pruneActionsSQL deletes up to $2 rule actions finished before $1, oldest
// first; pending ones stay. IDs rise with created_at (closely enough: a
// replica's clock), and no action created at or after $1 finished before
// it, so the walk by ID stops at the first such action. SKIP LOCKED: as
// pruneSQL, and an action a worker is finishing is left for the next run.
const pruneActionsSQL = `DELETE FROM rule_actions WHERE id IN (
	SELECT id FROM rule_actions
	WHERE id < coalesce((SELECT id FROM rule_actions WHERE created_at >= $1 ORDER BY id LIMIT 1), 9223372036854775807)
		AND outcome <> 'pending' AND finished_at < $1
	ORDER BY id
	LIMIT $2
	FOR UPDATE SKIP LOCKED)`

// PruneActions deletes up to limit rule actions finished before before,
// oldest first, and returns how many it deleted (see store.Store).
func (d *DB) PruneActions(ctx context.Context, before time.Time, limit int) (int, error) {
	return d.prune(ctx, "prune rule actions", pruneActionsSQL, before, limit)
}
