package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/prolific-receiver/receiver/internal/store"
)

// ActionReader lists the rules engine's actions; store.Store satisfies it.
// A Reader without it shows no actions page.
type ActionReader interface {
	Actions(ctx context.Context, f store.ActionFilter) ([]store.Action, error)
}

// actionsPage is the data of actions.html.
type actionsPage struct {
	Filter   store.ActionFilter
	Outcomes []string
	Actions  []store.Action
	OlderURL string
	Filtered bool
}

// handleActions serves GET /actions?rule=&study_id=&outcome=&before=ID: the
// rule actions' audit, newest first.
func (d *Dashboard) handleActions(w http.ResponseWriter, r *http.Request) {
	ar, ok := d.r.(ActionReader)
	if !ok {
		d.notFound(w, r, "No rule actions", "This receiver's store keeps no rule actions.")
		return
	}
	q := r.URL.Query()
	f := store.ActionFilter{Rule: q.Get("rule"), StudyID: q.Get("study_id"), Outcome: q.Get("outcome"), Limit: d.opts.PageSize + 1}
	for _, v := range []string{f.Rule, f.StudyID} {
		if len(v) > maxFilterLen {
			d.badRequest(w, r, "a filter is too long")
			return
		}
	}
	if f.Outcome != "" && !slices.Contains(store.ActionOutcomes, f.Outcome) {
		d.badRequest(w, r, "outcome must be pending, dry-run, done, failed or skipped")
		return
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			d.badRequest(w, r, "before must be a positive action id")
			return
		}
		f.BeforeID = n
	}
	as, err := ar.Actions(r.Context(), f)
	if err != nil {
		d.fail(w, r, err, "actions")
		return
	}
	p := actionsPage{Filter: f, Outcomes: store.ActionOutcomes, Actions: as, Filtered: f.Rule != "" || f.StudyID != "" || f.Outcome != ""}
	if len(as) > d.opts.PageSize {
		p.Actions = as[:d.opts.PageSize]
		older := url.Values{}
		for k, v := range map[string]string{"rule": f.Rule, "study_id": f.StudyID, "outcome": f.Outcome} {
			if v != "" {
				older.Set(k, v)
			}
		}
		older.Set("before", strconv.FormatInt(p.Actions[len(p.Actions)-1].ID, 10))
		p.OlderURL = "actions?" + older.Encode()
	}
	d.render(w, r, http.StatusOK, "actions", page{Title: "Rule actions", Nav: "actions", Data: p})
}
