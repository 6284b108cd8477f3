package sqlite

import (
	"context"
	"errors"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// sqlEnqueueJob queues a job due at ?3: a pending job (no live lease)
// keeps its row, its due time brought forward when ?3 is sooner; a leased
// one is marked to run once more.
const sqlEnqueueJob = `INSERT INTO jobs (kind, key, due_at, created_at)
	VALUES (?1, ?2, ?3, ?4)
	ON CONFLICT (kind, key) DO UPDATE SET
	requeue = CASE WHEN jobs.locked_by <> '' AND jobs.locked_until > ?4 THEN 1 ELSE jobs.requeue END,
	due_at = CASE WHEN (jobs.locked_by = '' OR jobs.locked_until <= ?4) AND ?3 < jobs.due_at
		THEN ?3 ELSE jobs.due_at END`

// EnqueueJob queues the job (kind, key) due at dueAt (see store.Store).
func (db *DB) EnqueueJob(ctx context.Context, kind, key string, dueAt time.Time) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	if kind == "" || key == "" {
		return errors.New("enqueue job: empty kind or key")
	}
	if _, err := db.write.ExecContext(ctx, sqlEnqueueJob, kind, key, micros(dueAt), micros(db.opts.Now())); err != nil {
		return db.wrap("enqueue job", err)
	}
	return nil
}

// ReconcileMarks returns every mark of kind (see store.Store).
func (db *DB) ReconcileMarks(ctx context.Context, kind string) (map[string]time.Time, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := db.read.QueryContext(ctx, `SELECT key, at FROM reconcile_marks WHERE kind = ?`, kind)
	if err != nil {
		return nil, db.wrap("read reconcile marks", err)
	}
	defer rows.Close()
	marks := map[string]time.Time{}
	for rows.Next() {
		var key string
		var at int64
		if err := rows.Scan(&key, &at); err != nil {
			return nil, db.wrap("read reconcile marks", err)
		}
		marks[key] = fromMicros(at)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("read reconcile marks", err)
	}
	return marks, nil
}

// SetReconcileMark moves mark (kind, key) forward to at (see store.Store).
func (db *DB) SetReconcileMark(ctx context.Context, kind, key string, at time.Time) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	if _, err := db.write.ExecContext(ctx, `INSERT INTO reconcile_marks (kind, key, at) VALUES (?1, ?2, ?3)
		ON CONFLICT (kind, key) DO UPDATE SET at = max(reconcile_marks.at, excluded.at)`,
		kind, key, micros(at)); err != nil {
		return db.wrap("set reconcile mark", err)
	}
	return nil
}
