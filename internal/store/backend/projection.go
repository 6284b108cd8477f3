package backend

import (
	"sort"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// Projection is a batch's effect on the studies, submissions and jobs
// tables, folded per row so that a backend writes each row once per
// transaction (docs/store.md "Group commit"). Folding is exact: the
// ordering rule picks the same status from the batch as row-by-row
// upserts would, last_event_at is a maximum, high-return-rate events a
// sum, and enqueueing a job twice in one transaction is enqueueing it once.
type Projection struct {
	Enrich      bool
	Studies     map[string]*StudyDelta
	Submissions map[string]*SubmissionDelta
	Jobs        map[JobKey]bool
}

// Status is a candidate status of a projection row.
type Status struct {
	Name string
	At   time.Time
	Rank int
	Set  bool
}

// Offer keeps the newer of s and the candidate by the ordering rule
// ((time, rank) strictly greater wins); on a tie the status held stays.
func (s *Status) Offer(name string, at time.Time, rank int) {
	if !s.Set || at.After(s.At) || (at.Equal(s.At) && rank > s.Rank) {
		*s = Status{Name: name, At: at, Rank: rank, Set: true}
	}
}

// StudyDelta is what a batch does to one study row.
type StudyDelta struct {
	Status   Status
	HighRate int       // high-return-rate events to add
	LastAt   time.Time // newest event time
}

// SubmissionDelta is what a batch does to one submission row.
type SubmissionDelta struct {
	StudyID       string
	ParticipantID string
	Status        Status
}

// JobKey names a job.
type JobKey struct{ Kind, Key string }

// NewProjection returns an empty projection; with enrich, touched studies
// and submissions without a study queue jobs.
func NewProjection(enrich bool) *Projection {
	return &Projection{
		Enrich:      enrich,
		Studies:     map[string]*StudyDelta{},
		Submissions: map[string]*SubmissionDelta{},
		Jobs:        map[JobKey]bool{},
	}
}

// study returns the delta of study id, touched by an event at t.
func (p *Projection) study(id string, t time.Time) *StudyDelta {
	s := p.Studies[id]
	if s == nil {
		s = &StudyDelta{LastAt: t}
		p.Studies[id] = s
	}
	if t.After(s.LastAt) {
		s.LastAt = t
	}
	if p.Enrich {
		p.Jobs[JobKey{store.JobRefreshStudy, id}] = true
	}
	return s
}

// Add folds one stored event into the projection; studyID is the event's
// study as stored (for a submission event possibly learnt from the
// submission's row).
func (p *Projection) Add(e *store.Event, studyID string) {
	switch {
	case store.IsStudyStatusEvent(e.Type):
		p.study(e.ResourceID, e.EventTime).Status.Offer(e.Status, e.EventTime, store.StatusRank(e.Type, e.Status))
	case store.IsHighReturnRateEvent(e.Type):
		p.study(e.ResourceID, e.EventTime).HighRate++
	case store.IsStudyEvent(e.Type):
		p.study(e.ResourceID, e.EventTime)
	case store.IsSubmissionEvent(e.Type):
		s := p.Submissions[e.ResourceID]
		if s == nil {
			s = &SubmissionDelta{}
			p.Submissions[e.ResourceID] = s
		}
		if s.StudyID == "" {
			s.StudyID = studyID
		}
		if s.ParticipantID == "" {
			s.ParticipantID = e.ParticipantID
		}
		s.Status.Offer(e.Status, e.EventTime, store.StatusRank(e.Type, e.Status))
		switch {
		case studyID != "":
			p.study(studyID, e.EventTime)
		case p.Enrich:
			p.Jobs[JobKey{store.JobLookupSubmission, e.ResourceID}] = true
		}
	}
}

// SortedJobs returns the jobs by kind, then key.
func (p *Projection) SortedJobs() []JobKey {
	jobs := make([]JobKey, 0, len(p.Jobs))
	for k := range p.Jobs {
		jobs = append(jobs, k)
	}
	sort.Slice(jobs, func(i, j int) bool {
		if jobs[i].Kind != jobs[j].Kind {
			return jobs[i].Kind < jobs[j].Kind
		}
		return jobs[i].Key < jobs[j].Key
	})
	return jobs
}

// SortedKeys returns m's keys in order. Backends write rows in key order,
// so transactions writing overlapping rows lock them in one order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
