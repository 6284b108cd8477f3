package prolifictest

import (
	"net/http"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

// Study and submission statuses: prolific's, under the names the fake's
// code and tests use.
const (
	StudyUnpublished    = prolific.StudyUnpublished
	StudyScheduled      = prolific.StudyScheduled
	StudyActive         = prolific.StudyActive
	StudyAwaitingReview = prolific.StudyAwaitingReview
	StudyPaused         = prolific.StudyPaused
	StudyCompleted      = prolific.StudyCompleted

	SubmissionReserved          = prolific.SubmissionReserved
	SubmissionActive            = prolific.SubmissionActive
	SubmissionTimedOut          = prolific.SubmissionTimedOut
	SubmissionAwaitingReview    = prolific.SubmissionAwaitingReview
	SubmissionApproved          = prolific.SubmissionApproved
	SubmissionPartiallyApproved = prolific.SubmissionPartiallyApproved
	SubmissionReturned          = prolific.SubmissionReturned
	SubmissionRejected          = prolific.SubmissionRejected
	SubmissionScreenedOut       = prolific.SubmissionScreenedOut
)

// countKeys are the keys of SubmissionsCountResponse, always all present.
var countKeys = []string{
	SubmissionActive, SubmissionApproved, SubmissionAwaitingReview, SubmissionRejected, SubmissionReserved,
	SubmissionReturned, SubmissionTimedOut, SubmissionPartiallyApproved, SubmissionScreenedOut,
}

type study struct {
	id, workspaceID, name, status string
	totalPlaces                   int
	created                       time.Time
	published                     *time.Time
	subs                          []*submission
}

type submission struct {
	id, studyID, participantID, status string
	started                            time.Time
	completed                          *time.Time
}

// placesTaken follows the OpenAPI definition: submissions started,
// excluding timed-out and returned ones.
func (s *study) placesTaken() int {
	n := 0
	for _, sub := range s.subs {
		if sub.status != SubmissionReturned && sub.status != SubmissionTimedOut {
			n++
		}
	}
	return n
}

func (s *study) counts() map[string]int {
	c := make(map[string]int, len(countKeys)+1)
	for _, k := range countKeys {
		c[k] = 0
	}
	for _, sub := range s.subs {
		c[sub.status]++
	}
	c["TOTAL"] = len(s.subs)
	return c
}

type studyJSON struct {
	ID                      string  `json:"id"`
	Name                    string  `json:"name"`
	InternalName            string  `json:"internal_name"`
	Status                  string  `json:"status"`
	StudyType               string  `json:"study_type"`
	TotalAvailablePlaces    int     `json:"total_available_places"`
	PlacesTaken             int     `json:"places_taken"`
	NumberOfSubmissions     int     `json:"number_of_submissions"`
	EstimatedCompletionTime int     `json:"estimated_completion_time"`
	Reward                  int     `json:"reward"`
	DateCreated             string  `json:"date_created"`
	PublishedAt             *string `json:"published_at"`
	IsReadyToPublish        bool    `json:"is_ready_to_publish"`
}

func (f *Fake) handleGetStudy(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := lookup(w, r, f.studies, "Study not found."); ok {
		writeJSON(w, http.StatusOK, f.studyJSONLocked(s))
	}
}

// studyJSONLocked is the study as the API shows it; f.mu held.
func (f *Fake) studyJSONLocked(s *study) studyJSON {
	out := studyJSON{
		ID: s.id, Name: s.name, InternalName: s.name, Status: s.status, StudyType: "SINGLE",
		TotalAvailablePlaces: s.totalPlaces, PlacesTaken: s.placesTaken(), NumberOfSubmissions: len(s.subs),
		EstimatedCompletionTime: 5, Reward: 100, DateCreated: isoTime(s.created), IsReadyToPublish: true,
	}
	if s.published != nil {
		p := isoTime(*s.published)
		out.PublishedAt = &p
	}
	return out
}

func (f *Fake) handleCountSubmissions(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := lookup(w, r, f.studies, "Study not found."); ok {
		writeJSON(w, http.StatusOK, s.counts())
	}
}

// submissionJSON is SubmissionDetail. The OpenAPI names the participant
// "participant"; participant_id is sent as well because the webhook payload
// and the short submission object use that name.
type submissionJSON struct {
	ID              string    `json:"id"`
	StudyID         string    `json:"study_id"`
	Participant     string    `json:"participant"`
	ParticipantID   string    `json:"participant_id"`
	Status          string    `json:"status"`
	StartedAt       string    `json:"started_at"`
	CompletedAt     *string   `json:"completed_at"`
	EnteredCode     *string   `json:"entered_code"`
	ParentStudyID   *string   `json:"parent_study_id"`
	BonusPayments   []float64 `json:"bonus_payments"`
	ReturnRequested *string   `json:"return_requested"`
}

func (f *Fake) handleGetSubmission(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := lookup(w, r, f.submissions, "Submission not found.")
	if !ok {
		return
	}
	out := submissionJSON{
		ID: s.id, StudyID: s.studyID, Participant: s.participantID, ParticipantID: s.participantID,
		Status: s.status, StartedAt: isoTime(s.started), BonusPayments: []float64{},
	}
	if s.completed != nil {
		c := isoTime(*s.completed)
		out.CompletedAt = &c
	}
	writeJSON(w, http.StatusOK, out)
}

// StudyState is a consistent snapshot of one study, for tests.
type StudyState struct {
	ID, WorkspaceID, Name, Status string
	TotalAvailablePlaces          int
	PlacesTaken                   int
	NumberOfSubmissions           int
	// Counts is keyed like the counts endpoint, "TOTAL" included.
	Counts map[string]int
	// Submissions maps submission ID to status.
	Submissions map[string]string
}

// StudyState returns a snapshot of the study, or false if there is none.
func (f *Fake) StudyState(id string) (StudyState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.studies[id]
	if !ok {
		return StudyState{}, false
	}
	subs := make(map[string]string, len(s.subs))
	for _, sub := range s.subs {
		subs[sub.id] = sub.status
	}
	return StudyState{
		ID: s.id, WorkspaceID: s.workspaceID, Name: s.name, Status: s.status,
		TotalAvailablePlaces: s.totalPlaces, PlacesTaken: s.placesTaken(), NumberOfSubmissions: len(s.subs),
		Counts: s.counts(), Submissions: subs,
	}, true
}

// lookup returns the entry of m the request's {id} names, answering 404
// with notFound (Prolific's detail) when there is none.
func lookup[T any](w http.ResponseWriter, r *http.Request, m map[string]T, notFound string) (T, bool) {
	return find(w, m, r.PathValue("id"), notFound)
}

// find returns m[key], answering 404 with notFound when there is none.
func find[T any](w http.ResponseWriter, m map[string]T, key, notFound string) (T, bool) {
	v, ok := m[key]
	if !ok {
		writeError(w, http.StatusNotFound, notFound)
	}
	return v, ok
}
