package postgres

import (
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/store"
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

// status is a candidate status of a projection row.
type status struct {
	name string
	at   time.Time
	rank int
	set  bool
}

// offer keeps the newer of s and the candidate, by the ordering rule; on a
// tie the status already held stays.
func (s *status) offer(name string, at time.Time, rank int) {
	if !s.set || at.After(s.at) || (at.Equal(s.at) && rank > s.rank) {
		*s = status{name: name, at: at, rank: rank, set: true}
	}
}

// args returns the status, status_at (nil when none) and rank parameters.
func (s *status) args() (string, *time.Time, int) {
	if !s.set {
		return "", nil, 0
	}
	at := s.at
	return s.name, &at, s.rank
}

type studyDelta struct {
	status   status
	highRate int
	lastAt   time.Time
}

type submissionDelta struct {
	studyID       string
	participantID string
	status        status
}

type jobKey struct{ kind, key string }

// projection is the batch's effect on studies, submissions and jobs,
// folded per row so each row is written once per transaction.
type projection struct {
	enrich      bool
	studies     map[string]*studyDelta
	submissions map[string]*submissionDelta
	jobs        map[jobKey]bool
}

func newProjection(enrich bool) *projection {
	return &projection{
		enrich:      enrich,
		studies:     map[string]*studyDelta{},
		submissions: map[string]*submissionDelta{},
		jobs:        map[jobKey]bool{},
	}
}

// study returns the delta of study id, touched by an event at t.
func (p *projection) study(id string, t time.Time) *studyDelta {
	s := p.studies[id]
	if s == nil {
		s = &studyDelta{lastAt: t}
		p.studies[id] = s
	}
	if t.After(s.lastAt) {
		s.lastAt = t
	}
	if p.enrich {
		p.jobs[jobKey{store.JobRefreshStudy, id}] = true
	}
	return s
}

// add folds one stored event into the projection; studyID is the event's
// study as stored (possibly learnt from its submission).
func (p *projection) add(e *store.Event, studyID string) {
	switch {
	case store.IsStudyStatusEvent(e.Type):
		p.study(e.ResourceID, e.EventTime).status.offer(e.Status, e.EventTime, store.StatusRank(e.Type, e.Status))
	case store.IsHighReturnRateEvent(e.Type):
		p.study(e.ResourceID, e.EventTime).highRate++
	case store.IsStudyEvent(e.Type):
		p.study(e.ResourceID, e.EventTime)
	case store.IsSubmissionEvent(e.Type):
		s := p.submissions[e.ResourceID]
		if s == nil {
			s = &submissionDelta{}
			p.submissions[e.ResourceID] = s
		}
		if s.studyID == "" {
			s.studyID = studyID
		}
		if s.participantID == "" {
			s.participantID = e.ParticipantID
		}
		s.status.offer(e.Status, e.EventTime, store.StatusRank(e.Type, e.Status))
		switch {
		case studyID != "":
			p.study(studyID, e.EventTime)
		case p.enrich:
			p.jobs[jobKey{store.JobLookupSubmission, e.ResourceID}] = true
		}
	}
}

// batch returns the statements applying the projection, for one round
// trip. Tables are written in one order (submissions, studies, jobs, as
// SetSubmissionStudy does) and rows in key order, so transactions writing
// overlapping rows lock them in the same order instead of deadlocking.
func (p *projection) batch(now, due time.Time) *pgx.Batch {
	b := &pgx.Batch{}
	for _, id := range sortedKeys(p.submissions) {
		s := p.submissions[id]
		name, at, rank := s.status.args()
		b.Queue(upsertSubmissionSQL, id, s.studyID, s.participantID, name, at, rank, now)
	}
	for _, id := range sortedKeys(p.studies) {
		s := p.studies[id]
		name, at, rank := s.status.args()
		b.Queue(upsertStudySQL, id, name, at, rank, s.highRate, s.lastAt, now)
	}
	jobs := make([]jobKey, 0, len(p.jobs))
	for k := range p.jobs {
		jobs = append(jobs, k)
	}
	sort.Slice(jobs, func(i, j int) bool {
		if jobs[i].kind != jobs[j].kind {
			return jobs[i].kind < jobs[j].kind
		}
		return jobs[i].key < jobs[j].key
	})
	for _, k := range jobs {
		b.Queue(enqueueSQL, k.kind, k.key, due, now)
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
