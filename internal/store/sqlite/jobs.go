package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// maxErrorLen bounds the last_error recorded for a job.
const maxErrorLen = 1000

// ClaimJobs leases up to limit due jobs to owner (see store.Store).
func (db *DB) ClaimJobs(ctx context.Context, owner string, n int, lease time.Duration) ([]store.Job, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	if owner == "" {
		return nil, errors.New("claim jobs: empty owner")
	}
	if n <= 0 {
		return nil, nil
	}
	now := micros(db.opts.Now())
	rows, err := db.write.QueryContext(ctx, `UPDATE jobs
		SET locked_by = ?1, locked_until = ?2, attempts = attempts + 1
		WHERE (kind, key) IN (
			SELECT kind, key FROM jobs
			WHERE due_at <= ?3 AND (locked_by = '' OR locked_until <= ?3)
			ORDER BY due_at, created_at, kind, key
			LIMIT ?4)
		RETURNING kind, key, due_at, attempts, created_at, last_error`,
		owner, now+lease.Microseconds(), now, min(n, store.MaxLimit))
	if err != nil {
		return nil, db.wrap("claim jobs", err)
	}
	defer rows.Close()
	jobs := []store.Job{}
	for rows.Next() {
		var j store.Job
		var due, created int64
		if err := rows.Scan(&j.Kind, &j.Key, &due, &j.Attempts, &created, &j.LastError); err != nil {
			return nil, db.wrap("claim jobs", err)
		}
		j.DueAt, j.CreatedAt = fromMicros(due), fromMicros(created)
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("claim jobs", err)
	}
	sort.Slice(jobs, func(a, b int) bool {
		if !jobs[a].DueAt.Equal(jobs[b].DueAt) {
			return jobs[a].DueAt.Before(jobs[b].DueAt)
		}
		return jobs[a].Kind+"\x00"+jobs[a].Key < jobs[b].Kind+"\x00"+jobs[b].Key
	})
	return jobs, nil
}

// CompleteJob deletes j, or re-arms it after Debounce when events asked for
// it while it ran. Only owner, the lease holder, can complete it.
func (db *DB) CompleteJob(ctx context.Context, owner string, j store.Job) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	now := db.opts.Now()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap("complete job", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE kind = ? AND key = ? AND locked_by = ? AND requeue = 0`,
		j.Kind, j.Key, owner); err != nil {
		return db.wrap("complete job", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE jobs
		SET locked_by = '', locked_until = 0, requeue = 0, attempts = 0, last_error = '', due_at = ?, created_at = ?
		WHERE kind = ? AND key = ? AND locked_by = ? AND requeue = 1`,
		micros(now.Add(db.opts.Debounce)), micros(now), j.Kind, j.Key, owner); err != nil {
		return db.wrap("complete job", err)
	}
	if err := tx.Commit(); err != nil {
		return db.wrap("complete job", err)
	}
	return nil
}

// RetryJob releases j to run again at retryAt, recording reason. Only owner,
// the lease holder, can retry it. A pending requeue is dropped: the retry
// runs after the events that asked for it.
func (db *DB) RetryJob(ctx context.Context, owner string, j store.Job, retryAt time.Time, reason string) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	if len(reason) > maxErrorLen {
		reason = reason[:maxErrorLen]
	}
	if _, err := db.write.ExecContext(ctx, `UPDATE jobs
		SET locked_by = '', locked_until = 0, requeue = 0, due_at = ?, last_error = ?
		WHERE kind = ? AND key = ? AND locked_by = ?`,
		micros(retryAt), reason, j.Kind, j.Key, owner); err != nil {
		return db.wrap("retry job", err)
	}
	return nil
}

// QueueStats counts pending and running jobs.
func (db *DB) QueueStats(ctx context.Context) (store.QueueStats, error) {
	if db.closed.Load() {
		return store.QueueStats{}, store.ErrClosed
	}
	var st store.QueueStats
	var oldest sql.NullInt64
	if err := db.read.QueryRowContext(ctx, `SELECT count(*), min(created_at) FROM jobs WHERE kind <> ?`, store.JobReconcile).Scan(&st.Depth, &oldest); err != nil {
		return st, db.wrap("queue stats", err)
	}
	st.OldestQueued = fromNullMicros(oldest)
	return st, nil
}

// queueInTx enqueues a job inside tx when enrichment is on.
func (db *DB) queueInTx(ctx context.Context, tx *sql.Tx, kind, key string, now time.Time) error {
	if !db.opts.Enrich {
		return nil
	}
	return enqueue(ctx, tx.StmtContext(ctx, db.stmts.enqueue), kind, key, now, db.opts.Debounce)
}
