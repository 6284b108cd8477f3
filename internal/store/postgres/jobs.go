package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/store"
)

// claimSQL leases due jobs without a live lease. SKIP LOCKED lets replicas
// claim concurrently without waiting for or double-claiming each other's
// rows: a row another transaction just leased is re-checked after its
// commit and no longer matches.
const claimSQL = `WITH due AS (
		SELECT kind, key FROM jobs
		WHERE due_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)
		ORDER BY due_at, kind, key
		LIMIT $2
		FOR UPDATE SKIP LOCKED
	)
	UPDATE jobs j SET locked_by = $3, locked_until = $4, attempts = j.attempts + 1
	FROM due WHERE j.kind = due.kind AND j.key = due.key
	RETURNING j.kind, j.key, j.due_at, j.attempts, j.created_at, j.last_error`

// ClaimJobs leases up to n due jobs to owner for lease, oldest due first.
func (d *DB) ClaimJobs(ctx context.Context, owner string, n int, lease time.Duration) ([]store.Job, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	now := d.clock()
	rows, err := d.pool.Query(ctx, claimSQL, now, min(n, store.MaxLimit), owner, now.Add(lease))
	if err != nil {
		return nil, d.wrap("claim jobs", err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Job, error) {
		var j store.Job
		err := r.Scan(&j.Kind, &j.Key, &j.DueAt, &j.Attempts, &j.CreatedAt, &j.LastError)
		j.DueAt, j.CreatedAt = j.DueAt.UTC(), j.CreatedAt.UTC()
		return j, err
	})
	if err != nil {
		return nil, d.wrap("claim jobs", err)
	}
	sort.Slice(jobs, func(a, b int) bool {
		if !jobs[a].DueAt.Equal(jobs[b].DueAt) {
			return jobs[a].DueAt.Before(jobs[b].DueAt)
		}
		if jobs[a].Kind != jobs[b].Kind {
			return jobs[a].Kind < jobs[b].Kind
		}
		return jobs[a].Key < jobs[b].Key
	})
	return jobs, nil
}

// CompleteJob deletes a job owner holds, or re-arms it after Debounce when
// events asked for it while it ran. A job owner does not hold is left alone.
func (d *DB) CompleteJob(ctx context.Context, owner string, j store.Job) error {
	if err := d.check(); err != nil {
		return err
	}
	due := d.clock().Add(d.opts.Debounce)
	_, err := d.pool.Exec(ctx, `WITH done AS (
			DELETE FROM jobs WHERE kind = $1 AND key = $2 AND locked_by = $3 AND NOT requeue
			RETURNING kind
		)
		UPDATE jobs SET locked_by = '', locked_until = NULL, requeue = FALSE, due_at = $4, attempts = 0
		WHERE kind = $1 AND key = $2 AND locked_by = $3 AND requeue`,
		j.Kind, j.Key, owner, due)
	if err != nil {
		return d.wrap("complete job", err)
	}
	return nil
}

// RetryJob releases a job owner holds to run again at retryAt, recording
// reason. A job owner does not hold is left alone.
func (d *DB) RetryJob(ctx context.Context, owner string, j store.Job, retryAt time.Time, reason string) error {
	if err := d.check(); err != nil {
		return err
	}
	_, err := d.pool.Exec(ctx, `UPDATE jobs SET locked_by = '', locked_until = NULL, due_at = $4, last_error = $5
		WHERE kind = $1 AND key = $2 AND locked_by = $3`,
		j.Kind, j.Key, owner, retryAt, reason)
	if err != nil {
		return d.wrap("retry job", err)
	}
	return nil
}

// QueueStats counts the jobs pending or running and finds the oldest.
func (d *DB) QueueStats(ctx context.Context) (store.QueueStats, error) {
	if err := d.check(); err != nil {
		return store.QueueStats{}, err
	}
	var qs store.QueueStats
	var oldest *time.Time
	if err := d.pool.QueryRow(ctx, `SELECT count(*), min(created_at) FROM jobs`).Scan(&qs.Depth, &oldest); err != nil {
		return qs, d.wrap("queue stats", err)
	}
	qs.OldestQueued = utc(oldest)
	return qs, nil
}

const snapshotSQL = `INSERT INTO studies AS t
	(id, name, status, status_at, status_rank, places_taken, places_total, number_of_submissions,
	 submission_counts, refreshed_at, updated_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
	ON CONFLICT (id) DO UPDATE SET
		status      = CASE WHEN ` + newerSQL + ` THEN excluded.status      ELSE t.status      END,
		status_rank = CASE WHEN ` + newerSQL + ` THEN excluded.status_rank ELSE t.status_rank END,
		status_at   = CASE WHEN ` + newerSQL + ` THEN excluded.status_at   ELSE t.status_at   END,
		name                  = excluded.name,
		places_taken          = excluded.places_taken,
		places_total          = excluded.places_total,
		number_of_submissions = excluded.number_of_submissions,
		submission_counts     = excluded.submission_counts,
		refreshed_at          = excluded.refreshed_at,
		updated_at            = excluded.updated_at`

// ApplyStudySnapshot records what the API said about a study; its status is
// applied with FetchedAt as its time under the ordering rule.
func (d *DB) ApplyStudySnapshot(ctx context.Context, s store.StudySnapshot) error {
	if err := d.check(); err != nil {
		return err
	}
	counts := s.SubmissionCounts
	if counts == nil {
		counts = map[string]int{}
	}
	raw, err := json.Marshal(counts)
	if err != nil {
		return fmt.Errorf("postgres: encode submission counts: %w", err)
	}
	st := status{}
	if s.Status != "" {
		st.offer(s.Status, s.FetchedAt, store.StatusRank("study.status.change", s.Status))
	}
	name, at, rank := st.args()
	_, err = d.pool.Exec(ctx, snapshotSQL, s.ID, s.Name, name, at, rank, s.PlacesTaken, s.PlacesTotal,
		s.NumberOfSubmissions, raw, s.FetchedAt, d.clock())
	if err != nil {
		return d.wrap("apply study snapshot", err)
	}
	return nil
}

// SetSubmissionStudy records the study of a submission, links its stored
// events to that study and, with Enrich, queues a refresh of the study.
func (d *DB) SetSubmissionStudy(ctx context.Context, submissionID, studyID string) error {
	if err := d.check(); err != nil {
		return err
	}
	now := d.clock()
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO submissions (id, study_id, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET study_id = excluded.study_id, updated_at = excluded.updated_at`,
		submissionID, studyID, now)
	b.Queue(`UPDATE events SET study_id = $2 WHERE resource_id = $1 AND study_id = '' AND type = 'submission.status.change'`,
		submissionID, studyID)
	if d.opts.Enrich {
		b.Queue(enqueueSQL, store.JobRefreshStudy, studyID, now.Add(d.opts.Debounce), now)
	}
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return d.wrap("set submission study", err)
	}
	return nil
}
