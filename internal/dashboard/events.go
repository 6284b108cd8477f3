package dashboard

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// knownEventTypes fill the events page's type filter.
var knownEventTypes = prolific.EventTypes

// maxFilterLen bounds a filter value; IDs are 24 characters.
const maxFilterLen = 200

// eventRow is one event as the events and study pages show it.
type eventRow struct {
	Seq           int64
	Type          string
	ResourceID    string
	ResourceURL   string // the study page when the resource is a study
	Status        string
	StatusClass   string
	StudyID       string
	ParticipantID string
	EventTime     time.Time
	ReceivedAt    time.Time
	// Source is "" for a webhook, else "api" (backfilled from Prolific's
	// delivery log) or "reconcile" (a correction).
	Source string
}

func toEventRows(events []store.Event) []eventRow {
	rows := make([]eventRow, 0, len(events))
	for _, e := range events {
		row := eventRow{Seq: e.Seq, Type: e.Type, ResourceID: e.ResourceID, Status: e.Status,
			StudyID: e.StudyID, ParticipantID: e.ParticipantID, EventTime: e.EventTime, ReceivedAt: e.ReceivedAt}
		if e.Status != "" {
			row.StatusClass = statusClass(e.Status)
		}
		if src := store.SourceOf(&e); src != store.SourceWebhook {
			row.Source = src
		}
		if strings.HasPrefix(e.Type, "study.") && e.ResourceID != "" {
			row.ResourceURL = studyURL(e.ResourceID)
		}
		rows = append(rows, row)
	}
	return rows
}

// eventsPage is the data of events.html.
type eventsPage struct {
	Filter     store.EventFilter
	Types      []string
	Events     []eventRow
	OlderURL   string // "" on the last page
	NewestURL  string // "" on the first page
	Filtered   bool
	ClearURL   string
	StoreEmpty bool
}

// handleEvents serves GET /events?event_type=&resource_id=&study_id=&before=SEQ.
func (d *Dashboard) handleEvents(w http.ResponseWriter, r *http.Request) {
	f, msg := d.eventFilter(r.URL.Query())
	if msg != "" {
		d.badRequest(w, r, msg)
		return
	}
	// One more than a page tells whether an older page exists.
	q := f
	q.Limit++
	events, err := d.r.Events(r.Context(), q)
	if err != nil {
		d.fail(w, r, err, "events")
		return
	}
	older := len(events) > f.Limit
	if older {
		events = events[:f.Limit]
	}
	p := eventsPage{Filter: f, Types: knownEventTypes, Events: toEventRows(events), ClearURL: "events",
		Filtered: f.Type != "" || f.ResourceID != "" || f.StudyID != ""}
	if f.Type != "" && !slices.Contains(knownEventTypes, f.Type) {
		p.Types = append(slices.Clone(knownEventTypes), f.Type)
	}
	if older {
		p.OlderURL = eventsURL(f, events[len(events)-1].Seq)
	}
	if f.BeforeSeq != 0 {
		p.NewestURL = eventsURL(f, 0)
	}
	p.StoreEmpty = len(events) == 0 && !p.Filtered && f.BeforeSeq == 0
	d.render(w, r, http.StatusOK, "events", page{Title: "Events", Nav: "events", Data: p})
}

// eventFilter reads the query; a non-empty message explains a bad value.
func (d *Dashboard) eventFilter(q url.Values) (store.EventFilter, string) {
	f := store.EventFilter{
		Type:       strings.TrimSpace(q.Get("event_type")),
		ResourceID: strings.TrimSpace(q.Get("resource_id")),
		StudyID:    strings.TrimSpace(q.Get("study_id")),
		Limit:      d.opts.PageSize,
	}
	for _, v := range []string{f.Type, f.ResourceID, f.StudyID} {
		if len(v) > maxFilterLen {
			return f, "A filter value is longer than " + strconv.Itoa(maxFilterLen) + " characters."
		}
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, "before must be a positive event sequence number."
		}
		f.BeforeSeq = n
	}
	return f, ""
}

// eventsURL links to the events page with f's filters and before (0 for none).
func eventsURL(f store.EventFilter, before int64) string {
	q := url.Values{}
	if f.Type != "" {
		q.Set("event_type", f.Type)
	}
	if f.ResourceID != "" {
		q.Set("resource_id", f.ResourceID)
	}
	if f.StudyID != "" {
		q.Set("study_id", f.StudyID)
	}
	if before > 0 {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	if len(q) == 0 {
		return "events"
	}
	return "events?" + q.Encode()
}
