package postgres

import (
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/store/backend"
)

// newerSQL is the ordering rule (docs/store.md): the incoming status wins
// when (time, rank) is strictly greater than what the row holds. It runs
// inside the row upsert, so it sees the latest committed row, locked.
const newerSQL = `(excluded.status_at IS NOT NULL AND
	(excluded.status_at, excluded.status_rank) > (COALESCE(t.status_at, '-infinity'::timestamptz), t.status_rank))`

// upsertStudiesSQL and upsertSubmissionsSQL write a batch's rows, one
// per key (backend.Projection folds them), in one statement each, in the
// arrays' order; updated_at is the scalar last parameter.
const upsertStudiesSQL = `INSERT INTO studies AS t
	(id, status, status_at, status_rank, high_return_rate_events, last_event_at, updated_at)
	SELECT u.id, u.status, u.status_at, u.rank, u.high, u.last_at, $7
	FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::integer[], $5::integer[], $6::timestamptz[])
		WITH ORDINALITY AS u(id, status, status_at, rank, high, last_at, n)
	ORDER BY u.n
	ON CONFLICT (id) DO UPDATE SET
		status      = CASE WHEN ` + newerSQL + ` THEN excluded.status      ELSE t.status      END,
		status_rank = CASE WHEN ` + newerSQL + ` THEN excluded.status_rank ELSE t.status_rank END,
		status_at   = CASE WHEN ` + newerSQL + ` THEN excluded.status_at   ELSE t.status_at   END,
		high_return_rate_events = t.high_return_rate_events + excluded.high_return_rate_events,
		last_event_at = GREATEST(t.last_event_at, excluded.last_event_at),
		updated_at    = excluded.updated_at`

const upsertSubmissionsSQL = `INSERT INTO submissions AS t
	(id, study_id, participant_id, status, status_at, status_rank, updated_at)
	SELECT u.id, u.study, u.pid, u.status, u.status_at, u.rank, $7
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::integer[])
		WITH ORDINALITY AS u(id, study, pid, status, status_at, rank, n)
	ORDER BY u.n
	ON CONFLICT (id) DO UPDATE SET
		study_id       = CASE WHEN t.study_id = '' THEN excluded.study_id ELSE t.study_id END,
		participant_id = CASE WHEN excluded.participant_id <> '' THEN excluded.participant_id ELSE t.participant_id END,
		status      = CASE WHEN ` + newerSQL + ` THEN excluded.status      ELSE t.status      END,
		status_rank = CASE WHEN ` + newerSQL + ` THEN excluded.status_rank ELSE t.status_rank END,
		status_at   = CASE WHEN ` + newerSQL + ` THEN excluded.status_at   ELSE t.status_at   END,
		updated_at  = excluded.updated_at`

// enqueueSQL queues a job with debounce: a pending job is left alone (its
// due time is not pushed back); a running one (live lease) is marked to run
// once more after it completes.
const enqueueSQL = `INSERT INTO jobs AS j (kind, key, due_at, created_at)
	VALUES ($1, $2, $3, $4)
	ON CONFLICT (kind, key) DO UPDATE SET requeue = TRUE
	WHERE j.locked_until > excluded.created_at AND NOT j.requeue`

// enqueueJobsSQL is enqueueSQL for a batch's jobs, in the arrays' order.
const enqueueJobsSQL = `INSERT INTO jobs AS j (kind, key, due_at, created_at)
	SELECT u.kind, u.key, $3, $4 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(kind, key, n)
	ORDER BY u.n
	ON CONFLICT (kind, key) DO UPDATE SET requeue = TRUE
	WHERE j.locked_until > excluded.created_at AND NOT j.requeue`

// statusArgs returns the status, status_at (nil when none) and rank
// parameters of s.
func statusArgs(s backend.Status) (string, *time.Time, int32) {
	if !s.Set {
		return "", nil, 0
	}
	at := s.At
	return s.Name, &at, int32(s.Rank)
}

// projectionBatch returns the statements applying p, for one round trip:
// one per table written. Tables are written in one order (submissions,
// studies, jobs, as SetSubmissionStudy does) and rows in key order, so
// transactions writing overlapping rows lock them in the same order
// instead of deadlocking.
func projectionBatch(p *backend.Projection, now, due time.Time) *pgx.Batch {
	b := &pgx.Batch{}
	if ids := backend.SortedKeys(p.Submissions); len(ids) > 0 {
		studies, pids, names := make([]string, len(ids)), make([]string, len(ids)), make([]string, len(ids))
		ats, ranks := make([]*time.Time, len(ids)), make([]int32, len(ids))
		for k, id := range ids {
			s := p.Submissions[id]
			studies[k], pids[k] = s.StudyID, s.ParticipantID
			names[k], ats[k], ranks[k] = statusArgs(s.Status)
		}
		b.Queue(upsertSubmissionsSQL, ids, studies, pids, names, ats, ranks, now)
	}
	if ids := backend.SortedKeys(p.Studies); len(ids) > 0 {
		names, ats, ranks := make([]string, len(ids)), make([]*time.Time, len(ids)), make([]int32, len(ids))
		highs, lasts := make([]int32, len(ids)), make([]time.Time, len(ids))
		for k, id := range ids {
			s := p.Studies[id]
			names[k], ats[k], ranks[k] = statusArgs(s.Status)
			highs[k], lasts[k] = int32(s.HighRate), s.LastAt
		}
		b.Queue(upsertStudiesSQL, ids, names, ats, ranks, highs, lasts, now)
	}
	if jobs := p.SortedJobs(); len(jobs) > 0 {
		kinds, keys := make([]string, len(jobs)), make([]string, len(jobs))
		for k, j := range jobs {
			kinds[k], keys[k] = j.Kind, j.Key
		}
		b.Queue(enqueueJobsSQL, kinds, keys, due, now)
	}
	return b
}
