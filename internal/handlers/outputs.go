package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

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

func handleListOutputs(d *Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		states, err := d.Outbox.OutputStates(r.Context())
		if err != nil {
			apiFail(d, w, r, err, "outputs")
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
		for i := range d.Outputs {
			s, ok := byName[d.Outputs[i].Name]
			if !ok {
				s = store.OutputState{Name: d.Outputs[i].Name}
			}
			delete(byName, s.Name)
			add(s, &d.Outputs[i])
		}
		for _, s := range states {
			if _, left := byName[s.Name]; left {
				add(s, nil)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"outputs": out})
	}
}

func handleDeadLetters(d *Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "name")
		if !d.knownOutput(r.Context(), name) {
			writeError(w, http.StatusNotFound, "output not found")
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
		items, err := d.Outbox.DeadLetters(r.Context(), name, after, limit)
		if err != nil {
			apiFail(d, w, r, err, "dead letters")
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
		writeJSON(w, http.StatusOK, map[string]any{"dead_letters": list, "next_after": next})
	}
}

func handleRetryOutput(d *Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "name")
		dead := false
		if v := r.URL.Query().Get("dead_letters"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "dead_letters must be true or false")
				return
			}
			dead = b
		}
		if !d.knownOutput(r.Context(), name) {
			writeError(w, http.StatusNotFound, "output not found")
			return
		}
		n, err := d.Outbox.RetryOutput(r.Context(), name, dead)
		if err != nil {
			apiFail(d, w, r, err, "output")
			return
		}
		d.Log.Info().Str("output", name).Bool("dead_letters", dead).Int("retried", n).Msg("outputs: retry requested")
		writeJSON(w, http.StatusOK, map[string]any{"output": name, "dead_letters": dead, "retried": n})
	}
}

func handlePauseOutput(d *Deps, paused bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "name")
		if err := d.Outbox.SetOutputPaused(r.Context(), name, paused); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				writeError(w, http.StatusNotFound, "output not found")
				return
			}
			apiFail(d, w, r, err, "output")
			return
		}
		d.Log.Info().Str("output", name).Bool("paused", paused).Msg("outputs: paused or resumed")
		writeJSON(w, http.StatusOK, map[string]any{"output": name, "paused": paused})
	}
}

// knownOutput reports whether name is configured or registered in the store.
func (d *Deps) knownOutput(ctx context.Context, name string) bool {
	for _, o := range d.Outputs {
		if o.Name == name {
			return true
		}
	}
	states, err := d.Outbox.OutputStates(ctx)
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
