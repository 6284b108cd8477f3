package handlers

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/store"
)

// Outbox is what the outputs API needs from the store; store.Store
// satisfies it.
type Outbox interface {
	OutputStates(ctx context.Context) ([]store.OutputState, error)
	DeadLetters(ctx context.Context, output string, afterID int64, limit int) ([]store.OutboxItem, error)
	RetryOutput(ctx context.Context, output string, deadLetters bool) (int, error)
	SetOutputPaused(ctx context.Context, output string, paused bool) error
}

// OutputInfo is a configured output as the API shows it: never a secret,
// and the destination without credentials or query.
type OutputInfo struct {
	Name        string
	Type        string
	Destination string
	Ordered     bool
	MaxAge      time.Duration
}

// OutputJSON is an output's configuration and standing.
type OutputJSON struct {
	Name              string     `json:"name"`
	Configured        bool       `json:"configured"` // false: in the store but not in the outputs file (not worked)
	Type              string     `json:"type,omitempty"`
	Destination       string     `json:"destination,omitempty"`
	Ordered           bool       `json:"ordered"`
	MaxAgeSeconds     float64    `json:"max_age_seconds,omitempty"`
	RegisteredAt      time.Time  `json:"registered_at"`
	Paused            bool       `json:"paused"`
	Disabled          string     `json:"disabled_reason,omitempty"`
	Pending           int        `json:"pending"`
	OldestPendingAt   *time.Time `json:"oldest_pending_at"`
	OldestPendingAgeS float64    `json:"oldest_pending_age_seconds"`
	DeadLetters       int        `json:"dead_letters"`
}

// OutputsPage is the answer of GET /api/v1/outputs.
type OutputsPage struct {
	Outputs []OutputJSON `json:"outputs"`
}

// DeadLettersPage is the answer of GET /api/v1/outputs/{name}/dead-letters:
// the dead letters after the given outbox_id, oldest first, and the
// outbox_id to ask after next (the given one when there are no more).
type DeadLettersPage struct {
	DeadLetters []DeadLetterJSON `json:"dead_letters"`
	NextAfter   int64            `json:"next_after"`
}

// RetryOutputResponse is the answer of POST /api/v1/outputs/{name}/retry.
type RetryOutputResponse struct {
	DeadLetters bool   `json:"dead_letters"`
	Output      string `json:"output"`
	Retried     int    `json:"retried"`
}

// PauseOutputResponse is the answer of POST /api/v1/outputs/{name}/pause
// and /resume.
type PauseOutputResponse struct {
	Output string `json:"output"`
	Paused bool   `json:"paused"`
}

// outputsAPI is what the outputs API uses.
type outputsAPI struct {
	outbox  Outbox
	outputs []OutputInfo // the configured outputs
	log     zerolog.Logger
	now     func() time.Time
	errs    apiErrors
}

// DeadLetterJSON is one dead letter.
type DeadLetterJSON struct {
	OutboxID  int64      `json:"outbox_id"`
	Event     *EventJSON `json:"event"` // null when the event was pruned
	EventSeq  int64      `json:"event_seq"`
	Attempts  int        `json:"attempts"`
	LastError string     `json:"last_error"`
	QueuedAt  time.Time  `json:"queued_at"`
	DeadAt    time.Time  `json:"dead_at"`
}

func (d *outputsAPI) handleList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		states, err := d.outbox.OutputStates(r.Context())
		if err != nil {
			d.errs.fail(w, r, err, "outputs")
			return
		}
		byName := map[string]store.OutputState{}
		for _, s := range states {
			byName[s.Name] = s
		}
		now := d.now()
		out := []OutputJSON{}
		add := func(s store.OutputState, info *OutputInfo) {
			j := OutputJSON{Name: s.Name, RegisteredAt: s.RegisteredAt, Paused: s.Paused, Disabled: s.Disabled,
				Pending: s.Pending, OldestPendingAt: timePtr(s.OldestPending), DeadLetters: s.DeadLetters}
			if !s.OldestPending.IsZero() {
				j.OldestPendingAgeS = max(0, now.Sub(s.OldestPending).Seconds())
			}
			if info != nil {
				j.Configured, j.Type, j.Destination, j.Ordered, j.MaxAgeSeconds = true, info.Type, info.Destination, info.Ordered, info.MaxAge.Seconds()
			}
			out = append(out, j)
		}
		for i := range d.outputs {
			s, ok := byName[d.outputs[i].Name]
			if !ok {
				s = store.OutputState{Name: d.outputs[i].Name}
			}
			delete(byName, s.Name)
			add(s, &d.outputs[i])
		}
		for _, s := range states {
			if _, left := byName[s.Name]; left {
				add(s, nil)
			}
		}
		writeJSON(w, http.StatusOK, OutputsPage{Outputs: out})
	}
}

func (d *outputsAPI) handleDeadLetters() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := PathParam(r, "name")
		if !d.known(r.Context(), name) {
			d.errs.fail(w, r, store.ErrNotFound, "output")
			return
		}
		q := r.URL.Query()
		limit, after := 100, int64(0)
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > store.MaxLimit {
				writeError(w, http.StatusBadRequest, "limit must be an integer between 1 and 1000")
				return
			}
			limit = n
		}
		if v := q.Get("after"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				writeError(w, http.StatusBadRequest, "after must be an outbox_id, or 0 for the oldest")
				return
			}
			after = n
		}
		items, err := d.outbox.DeadLetters(r.Context(), name, after, limit)
		if err != nil {
			d.errs.fail(w, r, err, "dead letters")
			return
		}
		list := []DeadLetterJSON{}
		next := after
		for _, it := range items {
			j := DeadLetterJSON{OutboxID: it.ID, EventSeq: it.EventSeq, Attempts: it.Attempts, LastError: it.LastError,
				QueuedAt: it.CreatedAt, DeadAt: it.DeadAt}
			if it.Event != nil {
				e := toEventJSON(*it.Event, true)
				j.Event = &e
			}
			list = append(list, j)
			next = it.ID
		}
		writeJSON(w, http.StatusOK, DeadLettersPage{DeadLetters: list, NextAfter: next})
	}
}

func (d *outputsAPI) handleRetry() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := PathParam(r, "name")
		dead := false
		if v := r.URL.Query().Get("dead_letters"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "dead_letters must be true or false")
				return
			}
			dead = b
		}
		if !d.known(r.Context(), name) {
			d.errs.fail(w, r, store.ErrNotFound, "output")
			return
		}
		n, err := d.outbox.RetryOutput(r.Context(), name, dead)
		if err != nil {
			d.errs.fail(w, r, err, "output")
			return
		}
		d.log.Info().Str("output", name).Bool("dead_letters", dead).Int("retried", n).Msg("outputs: retry requested")
		writeJSON(w, http.StatusOK, RetryOutputResponse{Output: name, DeadLetters: dead, Retried: n})
	}
}

func (d *outputsAPI) handlePause(paused bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := PathParam(r, "name")
		if err := d.outbox.SetOutputPaused(r.Context(), name, paused); err != nil {
			d.errs.fail(w, r, err, "output")
			return
		}
		d.log.Info().Str("output", name).Bool("paused", paused).Msg("outputs: paused or resumed")
		writeJSON(w, http.StatusOK, PauseOutputResponse{Output: name, Paused: paused})
	}
}

// known reports whether name is configured or registered in the store.
func (d *outputsAPI) known(ctx context.Context, name string) bool {
	for _, o := range d.outputs {
		if o.Name == name {
			return true
		}
	}
	states, err := d.outbox.OutputStates(ctx)
	if err != nil {
		return true // let the call itself report the store's error
	}
	for _, s := range states {
		if s.Name == name {
			return true
		}
	}
	return false
}
