package handlers

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// Actions is what the actions API needs from the store; store.Store
// satisfies it.
type Actions interface {
	Actions(ctx context.Context, f store.ActionFilter) ([]store.Action, error)
}

// ActionJSON is one rule action (an audit row) as the API shows it.
type ActionJSON struct {
	ID          int64      `json:"id"`
	Rule        string     `json:"rule"`
	Action      string     `json:"action"`
	Outcome     string     `json:"outcome"`
	StudyID     string     `json:"study_id,omitempty"`
	Target      string     `json:"target,omitempty"`
	EventIDs    []string   `json:"event_ids"`
	EventsCount int        `json:"events_count"`
	DryRun      bool       `json:"dry_run"`
	Reason      string     `json:"reason,omitempty"`
	Request     string     `json:"request,omitempty"`
	Response    string     `json:"response,omitempty"`
	Attempts    int        `json:"attempts"`
	Key         string     `json:"key"`
	DecidedAt   time.Time  `json:"decided_at"`
	DueAt       time.Time  `json:"due_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

// ToActionJSON converts a stored action for the API and the CLI.
func ToActionJSON(a store.Action) ActionJSON {
	j := ActionJSON{ID: a.ID, Rule: a.Rule, Action: a.Action, Outcome: a.Outcome, StudyID: a.StudyID, Target: a.Target,
		EventIDs: a.EventIDs, EventsCount: a.Count, DryRun: a.DryRun, Reason: a.Reason, Request: a.Request, Response: a.Response,
		Attempts: a.Attempts, Key: a.Key, DecidedAt: a.CreatedAt, DueAt: a.DueAt, UpdatedAt: a.UpdatedAt}
	if j.EventIDs == nil {
		j.EventIDs = []string{}
	}
	if !a.FinishedAt.IsZero() {
		f := a.FinishedAt
		j.FinishedAt = &f
	}
	return j
}

// ActionsPage is the answer of GET /api/v1/actions.
type ActionsPage struct {
	Actions    []ActionJSON `json:"actions"`
	NextBefore int64        `json:"next_before,omitempty"`
}

// handleListActions serves GET /api/v1/actions?rule=&study_id=&outcome=&limit=&before=ID,
// newest first, paged like events (next_before).
func handleListActions(st Actions, errs apiErrors) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, err := actionFilter(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		as, err := st.Actions(r.Context(), f)
		if err != nil {
			errs.fail(w, r, err, "actions")
			return
		}
		out := ActionsPage{Actions: make([]ActionJSON, 0, len(as))}
		for _, a := range as {
			out.Actions = append(out.Actions, ToActionJSON(a))
		}
		if len(as) == f.Limit && len(as) > 0 {
			out.NextBefore = as[len(as)-1].ID
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func actionFilter(r *http.Request) (store.ActionFilter, error) {
	q := r.URL.Query()
	f := store.ActionFilter{Rule: q.Get("rule"), StudyID: q.Get("study_id"), Outcome: q.Get("outcome"), Limit: 100}
	if f.Outcome != "" && !slices.Contains(store.ActionOutcomes, f.Outcome) {
		return f, errors.New("outcome must be pending, dry-run, done, failed or skipped")
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			return f, errors.New("limit must be an integer between 1 and 1000")
		}
		f.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, errors.New("before must be a positive action id")
		}
		f.BeforeID = n
	}
	return f, nil
}
