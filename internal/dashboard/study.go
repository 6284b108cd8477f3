package dashboard

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/prolific-receiver/receiver/internal/handlers"
	"github.com/prolific-receiver/receiver/internal/store"
)

// submissionGroup is a study's known submissions with one status.
type submissionGroup struct {
	Status      string
	StatusClass string
	Submissions []store.Submission
}

// studyPage is the data of study.html.
type studyPage struct {
	Study          studyRow
	Raw            store.Study
	Groups         []submissionGroup
	KnownCount     int
	Truncated      bool // more submissions than were read
	Events         []eventRow
	AllEventsURL   string
	SubmissionsMax int
	// Actions are the rules engine's newest actions about the study (when
	// the store keeps them); ActionsURL lists them all.
	Actions    []store.Action
	ActionsURL string
}

// handleStudy serves GET /studies/{id}: one study, its submissions grouped
// by status and its recent events.
func (d *Dashboard) handleStudy(w http.ResponseWriter, r *http.Request) {
	id := handlers.PathParam(r, "id")
	s, err := d.r.Study(r.Context(), id)
	if err != nil {
		d.fail(w, r, err, "study")
		return
	}
	subs, err := d.r.Submissions(r.Context(), id, store.MaxLimit)
	if err != nil {
		d.fail(w, r, err, "submissions")
		return
	}
	f := store.EventFilter{StudyID: id, Limit: d.opts.StudyEvents}
	events, err := d.r.Events(r.Context(), f)
	if err != nil {
		d.fail(w, r, err, "events")
		return
	}
	p := studyPage{
		Study: newStudyRow(*s, d.opts.Now()), Raw: *s, Groups: groupSubmissions(subs),
		KnownCount: len(subs), Truncated: len(subs) >= store.MaxLimit, SubmissionsMax: store.MaxLimit,
		Events: toEventRows(events), AllEventsURL: eventsURL(store.EventFilter{StudyID: id}, 0),
	}
	if ar, ok := d.r.(ActionReader); ok {
		as, err := ar.Actions(r.Context(), store.ActionFilter{StudyID: id, Limit: 10})
		if err != nil {
			d.fail(w, r, err, "rule actions")
			return
		}
		p.Actions, p.ActionsURL = as, "actions?study_id="+url.QueryEscape(id)
	}
	title := s.ID
	if s.Name != "" {
		title = s.Name
	}
	d.render(w, r, http.StatusOK, "study", page{Title: "Study " + title, Nav: "studies", Data: p})
}

// groupSubmissions groups by status in submissionOrder, unknown statuses last.
func groupSubmissions(subs []store.Submission) []submissionGroup {
	by := map[string][]store.Submission{}
	for _, s := range subs {
		by[s.Status] = append(by[s.Status], s)
	}
	statuses := make([]string, 0, len(by))
	for st := range by {
		statuses = append(statuses, st)
	}
	rank := func(st string) int {
		if i := slices.Index(submissionOrder, st); i >= 0 {
			return i
		}
		return len(submissionOrder)
	}
	slices.SortFunc(statuses, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	out := make([]submissionGroup, 0, len(statuses))
	for _, st := range statuses {
		out = append(out, submissionGroup{Status: st, StatusClass: statusClass(st), Submissions: by[st]})
	}
	return out
}
