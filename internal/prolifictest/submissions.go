package prolifictest

import (
	"net/http"
	"strconv"
)

// submissionShortJSON is SubmissionShort, an entry of the submission listing.
type submissionShortJSON struct {
	ID              string  `json:"id"`
	ParticipantID   string  `json:"participant_id"`
	Status          string  `json:"status"`
	StartedAt       string  `json:"started_at"`
	CompletedAt     *string `json:"completed_at"`
	HasSiblings     bool    `json:"has_siblings"`
	StudyCode       *string `json:"study_code"`
	ReturnRequested *string `json:"return_requested"`
}

// maxSubmissionsPageSize caps page_size in the fake; Prolific documents none.
const maxSubmissionsPageSize = 500

// handleListSubmissions serves GET /api/v1/submissions/?study=ID (required)
// with page (1-based, default 1) and page_size (default 20, as documented),
// in the order the submissions started. A page past the last is 404
// "Invalid page.", as Django's paginator answers.
func (f *Fake) handleListSubmissions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	studyID := q.Get("study")
	if !requireField(w, "study", studyID) {
		return
	}
	page, size := 1, 20
	for _, p := range []struct {
		name string
		dst  *int
		max  int
	}{{"page", &page, 1 << 30}, {"page_size", &size, maxSubmissionsPageSize}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > p.max {
			writeError(w, http.StatusBadRequest, fieldError(p.name, "Must be an integer between 1 and "+strconv.Itoa(p.max)+"."))
			return
		}
		*p.dst = n
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.studies[studyID]
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"results": []submissionShortJSON{}})
		return
	}
	start := (page - 1) * size
	if start >= len(s.subs) && page > 1 {
		writeError(w, http.StatusNotFound, "Invalid page.")
		return
	}
	results := []submissionShortJSON{}
	for _, sub := range window(s.subs, start, size) {
		out := submissionShortJSON{ID: sub.id, ParticipantID: sub.participantID, Status: sub.status,
			StartedAt: isoTime(sub.started)}
		if sub.completed != nil {
			c := isoTime(*sub.completed)
			out.CompletedAt = &c
		}
		results = append(results, out)
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}
