package handlers

import (
	"encoding/json"
	"net/http"

	"github.com/rs/zerolog"
)

// rejection is a webhook the receiver refuses: the status Prolific sees, a
// bounded reason for metrics and logs, a public message, and the detail for
// the log (never a secret or signature).
type rejection struct {
	status int
	reason string
	msg    string
	err    error
}

// reject answers a refused delivery: one log line, one count, one response.
// It is the only place a webhook error becomes a status code.
func reject(d *Deps, w http.ResponseWriter, r *http.Request, eventType string, rej rejection) {
	d.Metrics.Rejections.WithLabelValues(rej.reason).Inc()
	d.Metrics.Webhooks.WithLabelValues(eventTypeLabel(eventType), "rejected").Inc()
	level := zerolog.WarnLevel
	if rej.status >= 500 {
		level = zerolog.ErrorLevel
	}
	ev := d.Log.WithLevel(level).
		Str("event_id", truncate(r.Header.Get("X-Event-ID"), 64)).
		Str("reason", rej.reason).
		Int("status", rej.status).
		Str("remote", r.RemoteAddr)
	if eventType != "" {
		ev = ev.Str("event_type", truncate(eventType, 64))
	}
	if rej.err != nil {
		ev = ev.AnErr("error", rej.err)
	}
	ev.Msg("webhook rejected")
	writeError(w, rej.status, rej.msg)
}

// writeError writes {"error": msg} with status.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// truncate bounds attacker-controlled strings before they reach logs.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
