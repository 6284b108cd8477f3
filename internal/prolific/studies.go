package prolific

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
)

// Study is the part of Prolific's study object the receiver tracks. It
// marshals with Prolific's field names, so fakes can serve it as is.
type Study struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	InternalName string `json:"internal_name,omitempty"`
	// Status is spelled as Prolific spells it, e.g. "AWAITING REVIEW".
	Status               string `json:"status"`
	TotalAvailablePlaces int    `json:"total_available_places"`
	// PlacesTaken counts started submissions, excluding timed-out and returned ones.
	PlacesTaken         int `json:"places_taken"`
	NumberOfSubmissions int `json:"number_of_submissions"`
}

// UnmarshalJSON decodes Prolific's field names; counts arrive as JSON
// numbers that may carry a fraction (the schema says double).
func (s *Study) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID                   string  `json:"id"`
		Name                 string  `json:"name"`
		InternalName         *string `json:"internal_name"`
		Status               string  `json:"status"`
		TotalAvailablePlaces float64 `json:"total_available_places"`
		PlacesTaken          float64 `json:"places_taken"`
		NumberOfSubmissions  float64 `json:"number_of_submissions"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*s = Study{ID: raw.ID, Name: raw.Name, Status: raw.Status,
		TotalAvailablePlaces: toInt(raw.TotalAvailablePlaces),
		PlacesTaken:          toInt(raw.PlacesTaken),
		NumberOfSubmissions:  toInt(raw.NumberOfSubmissions)}
	if raw.InternalName != nil {
		s.InternalName = *raw.InternalName
	}
	return nil
}

// Submission is the part of Prolific's submission object the receiver tracks.
type Submission struct {
	ID            string `json:"id"`
	StudyID       string `json:"study_id"`
	ParticipantID string `json:"participant"`
	// Status is spelled as Prolific spells it, e.g. "AWAITING REVIEW".
	Status string `json:"status"`
}

// UnmarshalJSON decodes Prolific's SubmissionDetail, whose participant ID is
// in "participant" (the webhook payload says "participant_id"; both are read).
func (s *Submission) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID            string `json:"id"`
		StudyID       string `json:"study_id"`
		Participant   string `json:"participant"`
		ParticipantID string `json:"participant_id"`
		Status        string `json:"status"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*s = Submission{ID: raw.ID, StudyID: raw.StudyID, ParticipantID: raw.Participant, Status: raw.Status}
	if s.ParticipantID == "" {
		s.ParticipantID = raw.ParticipantID
	}
	return nil
}

// Study fetches a study (GET /api/v1/studies/{id}/).
func (c *Client) Study(ctx context.Context, id string) (Study, error) {
	const ep = "studies.get"
	if id == "" {
		return Study{}, fmt.Errorf("prolific %s: study id: %w", ep, errEmptyID)
	}
	res, err := c.do(ctx, call{endpoint: ep, method: http.MethodGet, path: "/api/v1/studies/" + url.PathEscape(id) + "/"})
	if err != nil {
		return Study{}, err
	}
	var s Study
	return s, decode(ep, res.body, &s)
}

// SubmissionCounts returns a study's submission counts keyed by status as
// Prolific spells it ("AWAITING REVIEW", "TIMED-OUT", ...) plus "TOTAL".
func (c *Client) SubmissionCounts(ctx context.Context, studyID string) (map[string]int, error) {
	const ep = "studies.submission_counts"
	if studyID == "" {
		return nil, fmt.Errorf("prolific %s: study id: %w", ep, errEmptyID)
	}
	res, err := c.do(ctx, call{endpoint: ep, method: http.MethodGet,
		path: "/api/v1/studies/" + url.PathEscape(studyID) + "/submissions/counts/"})
	if err != nil {
		return nil, err
	}
	var raw map[string]float64
	if err := decode(ep, res.body, &raw); err != nil {
		return nil, err
	}
	counts := make(map[string]int, len(raw))
	for k, v := range raw {
		if len(k) > MaxFieldLen {
			continue // a status name, and so a label value: bounded like the webhook's
		}
		counts[k] = toInt(v)
	}
	return counts, nil
}

// Submission fetches a submission (GET /api/v1/submissions/{id}/).
func (c *Client) Submission(ctx context.Context, id string) (Submission, error) {
	const ep = "submissions.get"
	if id == "" {
		return Submission{}, fmt.Errorf("prolific %s: submission id: %w", ep, errEmptyID)
	}
	res, err := c.do(ctx, call{endpoint: ep, method: http.MethodGet, path: "/api/v1/submissions/" + url.PathEscape(id) + "/"})
	if err != nil {
		return Submission{}, err
	}
	var s Submission
	return s, decode(ep, res.body, &s)
}

// MaxCount is the largest count the receiver takes from Prolific's API;
// larger values are clamped to it. No study has a billion places, and the
// bound keeps a wild number (1e300, which int() turns negative) from
// reaching the store, the dashboard and /metrics.
const MaxCount = 1_000_000_000

// toInt turns a JSON count into an int in [0, MaxCount]: NaN and negative
// values are 0, fractions are rounded.
func toInt(f float64) int {
	switch {
	case math.IsNaN(f) || f <= 0:
		return 0
	case f >= MaxCount:
		return MaxCount
	}
	return int(math.Round(f))
}

// SubmissionsPageSize is the page_size StudySubmissions asks for when given
// none (Prolific's default is 20).
const SubmissionsPageSize = 200

// StudySubmissions reads page (1-based) of a study's submissions, at most
// pageSize of them (GET /api/v1/submissions/?study=ID&page=N&page_size=M;
// the list is a bare {"results": [...]}, so a page shorter than pageSize is
// the last). A page past the end, which Django-style APIs answer with 404,
// is returned as an empty page. Each submission's StudyID is studyID.
func (c *Client) StudySubmissions(ctx context.Context, studyID string, page, pageSize int) ([]Submission, error) {
	const ep = "submissions.list"
	if studyID == "" {
		return nil, fmt.Errorf("prolific %s: study id: %w", ep, errEmptyID)
	}
	if pageSize <= 0 {
		pageSize = SubmissionsPageSize
	}
	page = max(page, 1)
	v := url.Values{}
	v.Set("study", studyID)
	v.Set("page", strconv.Itoa(page))
	v.Set("page_size", strconv.Itoa(pageSize))
	res, err := c.do(ctx, call{endpoint: ep, method: http.MethodGet, path: "/api/v1/submissions/", query: v})
	if err != nil {
		if page > 1 && errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	subs, err := decodeList[Submission](ep, res.body)
	if err != nil {
		return nil, err
	}
	for i := range subs {
		if subs[i].StudyID == "" {
			subs[i].StudyID = studyID
		}
	}
	return subs, nil
}
