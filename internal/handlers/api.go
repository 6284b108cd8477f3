package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/store"
)

// EventJSON is an event as the read API shows it.
type EventJSON struct {
	Seq           int64           `json:"seq"`
	EventID       string          `json:"event_id"`
	EventType     string          `json:"event_type"`
	ResourceID    string          `json:"resource_id"`
	Status        string          `json:"status,omitempty"`
	ParticipantID string          `json:"participant_id,omitempty"`
	StudyID       string          `json:"study_id,omitempty"`
	EventTime     time.Time       `json:"event_time"`
	ReceivedAt    time.Time       `json:"received_at"`
	SignatureForm string          `json:"signature_form"`
	Body          json.RawMessage `json:"body,omitempty"`
	// Source is "webhook", "api" (backfilled from Prolific's delivery log)
	// or "reconcile" (a synthetic correction).
	Source string `json:"source"`
}

// StudyJSON is a study as the read API shows it.
type StudyJSON struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	Status               string         `json:"status"`
	StatusAt             *time.Time     `json:"status_at"`
	PlacesTaken          int            `json:"places_taken"`
	PlacesTotal          int            `json:"places_total"`
	NumberOfSubmissions  int            `json:"number_of_submissions"`
	SubmissionCounts     map[string]int `json:"submission_counts"`
	HighReturnRateEvents int            `json:"high_return_rate_events"`
	LastEventAt          *time.Time     `json:"last_event_at"`
	RefreshedAt          *time.Time     `json:"refreshed_at"`
	UpdatedAt            time.Time      `json:"updated_at"`
}

// SubmissionJSON is a submission as the read API shows it.
type SubmissionJSON struct {
	ID            string     `json:"id"`
	StudyID       string     `json:"study_id,omitempty"`
	ParticipantID string     `json:"participant_id,omitempty"`
	Status        string     `json:"status"`
	StatusAt      *time.Time `json:"status_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

func toEventJSON(e store.Event, withBody bool) EventJSON {
	j := EventJSON{Seq: e.Seq, EventID: e.ID, EventType: e.Type, ResourceID: e.ResourceID, Status: e.Status,
		ParticipantID: e.ParticipantID, StudyID: e.StudyID, EventTime: e.EventTime, ReceivedAt: e.ReceivedAt,
		SignatureForm: e.SignatureForm, Source: store.SourceOf(&e)}
	if withBody && json.Valid(e.Body) {
		j.Body = e.Body
	}
	return j
}

// ToStudyJSON converts a study for the API and the dashboard.
func ToStudyJSON(s store.Study) StudyJSON {
	counts := s.SubmissionCounts
	if counts == nil {
		counts = map[string]int{}
	}
	return StudyJSON{ID: s.ID, Name: s.Name, Status: s.Status, StatusAt: timePtr(s.StatusAt),
		PlacesTaken: s.PlacesTaken, PlacesTotal: s.PlacesTotal, NumberOfSubmissions: s.NumberOfSubmissions,
		SubmissionCounts: counts, HighReturnRateEvents: s.HighReturnRateEvents,
		LastEventAt: timePtr(s.LastEventAt), RefreshedAt: timePtr(s.RefreshedAt), UpdatedAt: s.UpdatedAt}
}

func toSubmissionJSON(s store.Submission) SubmissionJSON {
	return SubmissionJSON{ID: s.ID, StudyID: s.StudyID, ParticipantID: s.ParticipantID, Status: s.Status,
		StatusAt: timePtr(s.StatusAt), UpdatedAt: s.UpdatedAt}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// EventsPage is the answer of GET /api/v1/events and
// /api/v1/studies/{id}/events.
type EventsPage struct {
	Events     []EventJSON `json:"events"`
	NextBefore int64       `json:"next_before,omitempty"` // newest first: the seq to ask before next
	NextAfter  *int64      `json:"next_after,omitempty"`  // the change feed (after=): the seq to ask after next
	// More says the page ended before limit because of its bodies'
	// size, not because the list did: ask again at once.
	More bool `json:"more,omitempty"`
}

// StudiesPage is the answer of GET /api/v1/studies.
type StudiesPage struct {
	Studies []StudyJSON `json:"studies"`
}

// apiErrors is the admin API's one error path: every handler behind
// /api/v1 that meets an error it did not expect from the store (or a name
// the store does not know) answers through fail.
type apiErrors struct {
	log     zerolog.Logger
	metrics *Metrics
}

// fail answers an admin API error: 404 for absent things (ErrNotFound,
// "<what> not found"), 503 otherwise, with the store's own words when the
// change feed is unavailable (a database setting to fix; the text holds no
// secret). A request whose client went away is no store error: counted
// apart, logged at debug.
func (a apiErrors) fail(w http.ResponseWriter, r *http.Request, err error, what string) {
	if r.Context().Err() != nil {
		a.log.Debug().Err(err).Str("what", what).Msg("read API: client went away")
		a.metrics.Cancelled.WithLabelValues("api").Inc()
		w.WriteHeader(statusClientClosed)
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, what+" not found")
		return
	}
	if errors.Is(err, store.ErrFeedUnavailable) {
		a.log.Error().Err(err).Msg("read API: change feed unavailable")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	a.log.Error().Err(err).Str("what", what).Msg("read API: store error")
	writeError(w, http.StatusServiceUnavailable, "store unavailable")
}

// eventQuery is a list request: which events, and whether to show bodies.
type eventQuery struct {
	store.EventFilter
	bodies bool
}

// eventFilter reads limit, before, after, event_type, resource_id, study_id
// and body query parameters.
func eventFilter(r *http.Request) (eventQuery, error) {
	q := r.URL.Query()
	f := eventQuery{EventFilter: store.EventFilter{Type: q.Get("event_type"), ResourceID: q.Get("resource_id"), StudyID: q.Get("study_id"), Limit: 100}}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			return f, errors.New("limit must be an integer between 1 and 1000")
		}
		f.Limit = n
	}
	if q.Has("before") && q.Has("after") {
		return f, errors.New("use either before (newest first) or after (oldest first), not both")
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, errors.New("before must be a positive event seq")
		}
		f.BeforeSeq = n
	}
	if q.Has("after") {
		n, err := strconv.ParseInt(q.Get("after"), 10, 64)
		if err != nil || n < 0 {
			return f, errors.New("after must be an event seq, or 0 for the oldest event")
		}
		f.Forward, f.AfterSeq = true, n
	}
	if q.Has("body") {
		b, err := strconv.ParseBool(q.Get("body"))
		if err != nil {
			return f, errors.New("body must be true or false")
		}
		f.bodies = b
	}
	return f, nil
}

// listEvents answers a list of events: newest first with next_before to
// page back, or with after= (the change feed) oldest first with next_after,
// the seq to ask after next (the given one when nothing is new).
func listEvents(rd Reader, errs apiErrors, w http.ResponseWriter, r *http.Request, f eventQuery) {
	events, cut, err := readEvents(r.Context(), rd, f)
	if err != nil {
		errs.fail(w, r, err, "events")
		return
	}
	out := EventsPage{Events: make([]EventJSON, 0, len(events)), More: cut}
	for _, e := range events {
		out.Events = append(out.Events, toEventJSON(e, f.bodies))
	}
	switch {
	case f.Forward:
		next := f.AfterSeq
		if len(events) > 0 {
			next = events[len(events)-1].Seq
		}
		out.NextAfter = &next
	case (len(events) == f.Limit || cut) && len(events) > 0:
		out.NextBefore = events[len(events)-1].Seq
	}
	writeJSON(w, http.StatusOK, out)
}

// maxBodyPageBytes bounds the webhook bodies one event list carries with
// body=true: the page ends after the event that reaches it (with
// next_before or next_after to go on), so limit=1000 of large bodies never
// builds an answer of a thousand of them in memory.
const maxBodyPageBytes = 4 << 20

// bodyChunk is how many events a body=true list reads from the store at once.
const bodyChunk = 100

// readEvents reads the events of a list. Without bodies that is one store
// read; with them it reads bodyChunk events at a time, paging as a client
// would, and stops early (cut) once maxBodyPageBytes of bodies are in hand.
func readEvents(ctx context.Context, rd Reader, f eventQuery) (events []store.Event, cut bool, err error) {
	if !f.bodies {
		events, err = rd.Events(ctx, f.EventFilter)
		return events, false, err
	}
	q, size := f.EventFilter, 0
	for len(events) < f.Limit {
		q.Limit = min(bodyChunk, f.Limit-len(events))
		chunk, err := rd.Events(ctx, q)
		if err != nil {
			return nil, false, err
		}
		for _, e := range chunk {
			events = append(events, e)
			if size += len(e.Body); size >= maxBodyPageBytes && len(events) < f.Limit {
				return events, true, nil
			}
		}
		if len(chunk) < q.Limit {
			return events, false, nil
		}
		if last := chunk[len(chunk)-1].Seq; q.Forward {
			q.AfterSeq = last
		} else {
			q.BeforeSeq = last
		}
	}
	return events, false, nil
}

// handleListEvents serves GET /api/v1/events?limit=N&event_type=T&resource_id=R&study_id=S&before=SEQ
// (or &after=SEQ), with each event's body when body=true.
func handleListEvents(rd Reader, errs apiErrors) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, err := eventFilter(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		listEvents(rd, errs, w, r, f)
	}
}

// handleStudyEvents serves GET /api/v1/studies/{id}/events.
func handleStudyEvents(rd Reader, errs apiErrors) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, err := eventFilter(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		f.StudyID = PathParam(r, "id")
		listEvents(rd, errs, w, r, f)
	}
}

// handleGetEvent serves GET /api/v1/events/{event_id}, body included.
func handleGetEvent(rd Reader, errs apiErrors) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e, err := rd.Event(r.Context(), PathParam(r, "event_id"))
		if err != nil {
			errs.fail(w, r, err, "event")
			return
		}
		writeJSON(w, http.StatusOK, toEventJSON(*e, true))
	}
}

// handleListStudies serves GET /api/v1/studies.
func handleListStudies(rd Reader, errs apiErrors) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		studies, err := rd.Studies(r.Context(), store.StudyFilter{})
		if err != nil {
			errs.fail(w, r, err, "studies")
			return
		}
		out := StudiesPage{Studies: make([]StudyJSON, 0, len(studies))}
		for _, s := range studies {
			out.Studies = append(out.Studies, ToStudyJSON(s))
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// handleGetStudy serves GET /api/v1/studies/{id} with its submissions grouped by status.
func handleGetStudy(rd Reader, errs apiErrors) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := PathParam(r, "id")
		s, err := rd.Study(r.Context(), id)
		if err != nil {
			errs.fail(w, r, err, "study")
			return
		}
		subs, err := rd.Submissions(r.Context(), id, store.MaxLimit)
		if err != nil {
			errs.fail(w, r, err, "submissions")
			return
		}
		byStatus := map[string][]SubmissionJSON{}
		for _, sub := range subs {
			byStatus[sub.Status] = append(byStatus[sub.Status], toSubmissionJSON(sub))
		}
		writeJSON(w, http.StatusOK, struct {
			StudyJSON
			Submissions map[string][]SubmissionJSON `json:"submissions_by_status"`
		}{ToStudyJSON(*s), byStatus})
	}
}

// handleGetSubmission serves GET /api/v1/submissions/{id}.
func handleGetSubmission(rd Reader, errs apiErrors) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := rd.Submission(r.Context(), PathParam(r, "id"))
		if err != nil {
			errs.fail(w, r, err, "submission")
			return
		}
		writeJSON(w, http.StatusOK, toSubmissionJSON(*s))
	}
}

// PathParam returns the route parameter key, unescaped; every handler
// reads its route parameters with it. chi matches on the
// escaped path when the request's differs from the default encoding (an ID
// holding "/" arrives as %2F), and then its parameters are escaped too.
func PathParam(r *http.Request, key string) string {
	v := chi.URLParam(r, key)
	if r.URL.RawPath == "" {
		return v
	}
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}
