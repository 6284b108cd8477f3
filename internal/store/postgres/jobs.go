package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/backend"
)

// maxErrorLen bounds the last_error recorded for a job.
const maxErrorLen = 1000

// claimSQL leases due jobs without a live lease. SKIP LOCKED lets replicas
// claim concurrently without waiting for or double-claiming each other's
// rows: a row another transaction just leased is re-checked after its
// commit and no longer matches.
const claimSQL = `WITH due AS (
		SELECT kind, key FROM jobs
		WHERE due_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)
		ORDER BY due_at, created_at, kind, key
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
	if owner == "" {
		return nil, errors.New("postgres: claim jobs: empty owner")
	}
	if n <= 0 {
		return []store.Job{}, nil
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
	now := d.clock()
	_, err := d.pool.Exec(ctx, `WITH done AS (
			DELETE FROM jobs WHERE kind = $1 AND key = $2 AND locked_by = $3 AND NOT requeue
			RETURNING kind
		)
		UPDATE jobs SET locked_by = '', locked_until = NULL, requeue = FALSE, attempts = 0, last_error = '',
			due_at = $4, created_at = $5
		WHERE kind = $1 AND key = $2 AND locked_by = $3 AND requeue`,
		j.Kind, j.Key, owner, now.Add(d.opts.Debounce), now)
	if err != nil {
		return d.wrap("complete job", err)
	}
	return nil
}

// RetryJob releases a job owner holds to run again at retryAt, recording
// reason (truncated to maxErrorLen). A job owner does not hold is left
// alone. A pending requeue is dropped: the retry runs after the events that
// asked for it.
func (d *DB) RetryJob(ctx context.Context, owner string, j store.Job, retryAt time.Time, reason string) error {
	if err := d.check(); err != nil {
		return err
	}
	if len(reason) > maxErrorLen {
		reason = reason[:maxErrorLen]
	}
	_, err := d.pool.Exec(ctx, `UPDATE jobs SET locked_by = '', locked_until = NULL, requeue = FALSE, due_at = $4, last_error = $5
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
	if err := d.pool.QueryRow(ctx, `SELECT count(*), min(created_at) FROM jobs WHERE kind <> $1`, store.JobReconcile).Scan(&qs.Depth, &oldest); err != nil {
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
		name                  = CASE WHEN ` + snapshotNewerSQL + ` THEN excluded.name ELSE t.name END,
		places_taken          = CASE WHEN ` + snapshotNewerSQL + ` THEN excluded.places_taken ELSE t.places_taken END,
		places_total          = CASE WHEN ` + snapshotNewerSQL + ` THEN excluded.places_total ELSE t.places_total END,
		number_of_submissions = CASE WHEN ` + snapshotNewerSQL + ` THEN excluded.number_of_submissions ELSE t.number_of_submissions END,
		submission_counts     = CASE WHEN ` + snapshotNewerSQL + ` THEN excluded.submission_counts ELSE t.submission_counts END,
		refreshed_at          = CASE WHEN ` + snapshotNewerSQL + ` THEN excluded.refreshed_at ELSE t.refreshed_at END,
		updated_at            = excluded.updated_at`

// snapshotNewerSQL keeps a newer snapshot when two workers race.
const snapshotNewerSQL = `(t.refreshed_at IS NULL OR excluded.refreshed_at >= t.refreshed_at)`

// ApplyStudySnapshot records what the API said about a study. Name, places
// and counts are replaced unless a newer snapshot was already applied; the
// status follows the ordering rule with FetchedAt as its time.
func (d *DB) ApplyStudySnapshot(ctx context.Context, s store.StudySnapshot) error {
	if err := d.check(); err != nil {
		return err
	}
	if s.ID == "" || s.FetchedAt.IsZero() {
		return errors.New("postgres: apply study snapshot: empty ID or FetchedAt")
	}
	counts := s.SubmissionCounts
	if counts == nil {
		counts = map[string]int{}
	}
	raw, err := json.Marshal(counts)
	if err != nil {
		return fmt.Errorf("postgres: encode submission counts: %w", err)
	}
	st := backend.Status{}
	if s.Status != "" {
		st.Offer(s.Status, s.FetchedAt, store.StatusRank(prolific.EventStudyStatusChange, s.Status))
	}
	name, at, rank := statusArgs(st)
	_, err = d.pool.Exec(ctx, snapshotSQL, s.ID, s.Name, name, at, rank, s.PlacesTaken, s.PlacesTotal,
		s.NumberOfSubmissions, raw, s.FetchedAt, d.clock())
	if err != nil {
		return d.wrap("apply study snapshot", err)
	}
	return nil
}

// SetSubmissionStudy records that submissionID belongs to studyID
// (SetSubmissionsStudy with one submission).
func (d *DB) SetSubmissionStudy(ctx context.Context, submissionID, studyID string) error {
	return d.SetSubmissionsStudy(ctx, studyID, []string{submissionID})
}

// SetSubmissionsStudy records that every one of submissionIDs belongs to
// studyID, in one transaction and one round trip: each submission row
// (created if missing) gets the study, their stored events without a study
// get it too, the study row is created if missing and its last_event_at
// covers the submissions' newest status, and with Enrich one refresh of
// the study is queued.
func (d *DB) SetSubmissionsStudy(ctx context.Context, studyID string, submissionIDs []string) error {
	if err := d.check(); err != nil {
		return err
	}
	if studyID == "" || slices.Contains(submissionIDs, "") {
		return errors.New("postgres: set submission study: empty ID")
	}
	if len(submissionIDs) == 0 {
		return nil
	}
	// Without duplicates (one row may not be upserted twice in a
	// statement), and inserted in one order, so two calls for overlapping
	// submissions lock their rows in the same order.
	ids := slices.Clone(submissionIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	now := d.clock()
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO submissions (id, study_id, updated_at) SELECT id, $2, $3 FROM unnest($1::text[]) AS id ORDER BY id
		ON CONFLICT (id) DO UPDATE SET study_id = excluded.study_id, updated_at = excluded.updated_at`,
		ids, studyID, now)
	b.Queue(`UPDATE events SET study_id = $2 WHERE resource_id = ANY($1::text[]) AND study_id = '' AND type = 'submission.status.change'`,
		ids, studyID)
	b.Queue(`INSERT INTO studies AS t (id, last_event_at, updated_at)
		VALUES ($1, (SELECT max(status_at) FROM submissions WHERE id = ANY($2::text[])), $3)
		ON CONFLICT (id) DO UPDATE SET
			last_event_at = GREATEST(t.last_event_at, excluded.last_event_at),
			updated_at    = excluded.updated_at`,
		studyID, ids, now)
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
