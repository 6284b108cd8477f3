package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// enqueueJobSQL queues a job due at $3: a pending job (no live lease)
// keeps its row, its due time brought forward when $3 is sooner; a leased
// one is marked to run once more.
const enqueueJobSQL = `INSERT INTO jobs AS j (kind, key, due_at, created_at)
	VALUES ($1, $2, $3, $4)
	ON CONFLICT (kind, key) DO UPDATE SET
	requeue = j.requeue OR (j.locked_until IS NOT NULL AND j.locked_until > $4),
	due_at = CASE WHEN (j.locked_until IS NULL OR j.locked_until <= $4) AND $3 < j.due_at
		THEN $3 ELSE j.due_at END`

// EnqueueJob queues the job (kind, key) due at dueAt (see store.Store).
func (d *DB) EnqueueJob(ctx context.Context, kind, key string, dueAt time.Time) error {
	if err := d.check(); err != nil {
		return err
	}
	if kind == "" || key == "" {
		return errors.New("enqueue job: empty kind or key")
	}
	if _, err := d.pool.Exec(ctx, enqueueJobSQL, kind, key, pgTime(dueAt), d.clock()); err != nil {
		return d.wrap("enqueue job", err)
	}
	return nil
}

// ReconcileMarks returns every mark of kind (see store.Store).
func (d *DB) ReconcileMarks(ctx context.Context, kind string) (map[string]time.Time, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	rows, err := d.pool.Query(ctx, `SELECT key, at FROM reconcile_marks WHERE kind = $1`, kind)
	if err != nil {
		return nil, d.wrap("read reconcile marks", err)
	}
	marks := map[string]time.Time{}
	var key string
	var at time.Time
	if _, err := pgx.ForEachRow(rows, []any{&key, &at}, func() error {
		marks[key] = at.UTC()
		return nil
	}); err != nil {
		return nil, d.wrap("read reconcile marks", err)
	}
	return marks, nil
}

// SetReconcileMark moves mark (kind, key) forward to at (see store.Store).
func (d *DB) SetReconcileMark(ctx context.Context, kind, key string, at time.Time) error {
	if err := d.check(); err != nil {
		return err
	}
	if _, err := d.pool.Exec(ctx, `INSERT INTO reconcile_marks AS m (kind, key, at) VALUES ($1, $2, $3)
		ON CONFLICT (kind, key) DO UPDATE SET at = GREATEST(m.at, excluded.at)`,
		kind, key, pgTime(at)); err != nil {
		return d.wrap("set reconcile mark", err)
	}
	return nil
}
