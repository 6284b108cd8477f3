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

const upsertStudySQL = `INSERT INTO studies AS t
	(id, status, status_at, status_rank, high_return_rate_events, last_event_at, updated_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7)
	ON CONFLICT (id) DO UPDATE SET
		status      = CASE WHEN ` + newerSQL + ` THEN excluded.status      ELSE t.status      END,
		status_rank = CASE WHEN ` + newerSQL + ` THEN excluded.status_rank ELSE t.status_rank END,
		status_at   = CASE WHEN ` + newerSQL + ` THEN excluded.status_at   ELSE t.status_at   END,
		high_return_rate_events = t.high_return_rate_events + excluded.high_return_rate_events,
		last_event_at = GREATEST(t.last_event_at, excluded.last_event_at),
		updated_at    = excluded.updated_at`

const upsertSubmissionSQL = `INSERT INTO submissions AS t
	(id, study_id, participant_id, status, status_at, status_rank, updated_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7)
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

// statusArgs returns the status, status_at (nil when none) and rank
// parameters of s.
func statusArgs(s backend.Status) (string, *time.Time, int) {
	if !s.Set {
		return "", nil, 0
	}
	at := s.At
	return s.Name, &at, s.Rank
}

// projectionBatch returns the statements applying p, for one round trip.
// Tables are written in one order (submissions, studies, jobs, as
// SetSubmissionStudy does) and rows in key order, so transactions writing
// overlapping rows lock them in the same order instead of deadlocking.
func projectionBatch(p *backend.Projection, now, due time.Time) *pgx.Batch {
	b := &pgx.Batch{}
	for _, id := range backend.SortedKeys(p.Submissions) {
		s := p.Submissions[id]
		name, at, rank := statusArgs(s.Status)
		b.Queue(upsertSubmissionSQL, id, s.StudyID, s.ParticipantID, name, at, rank, now)
	}
	for _, id := range backend.SortedKeys(p.Studies) {
		s := p.Studies[id]
		name, at, rank := statusArgs(s.Status)
		b.Queue(upsertStudySQL, id, name, at, rank, s.HighRate, s.LastAt, now)
	}
	for _, k := range p.SortedJobs() {
		b.Queue(enqueueSQL, k.Kind, k.Key, due, now)
	}
	return b
}
