package handlers

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"

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
func reject(d *webhookDeps, w http.ResponseWriter, r *http.Request, eventType string, rej rejection) {
	d.Metrics.Rejections.WithLabelValues(rej.reason).Inc()
	d.Metrics.webhook(eventType, "rejected").Inc()
	level := zerolog.WarnLevel
	if rej.status >= 500 {
		level = zerolog.ErrorLevel
	}
	ev := d.Log.WithLevel(level).
		Str("event_id", truncate(header(r.Header, keyEventID), 64)).
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

// The JSON answers' headers, assigned as canonical keys (no
// canonicalisation per request). net/http only reads them.
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	noStore         = []string{"no-store"}
)

// writeJSONHeader writes a JSON answer's headers and status.
func writeJSONHeader(w http.ResponseWriter, status int) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
}

// encodeFailed is the answer when a value cannot be encoded as JSON.
const encodeFailed = `{"error":"internal error: the answer could not be encoded as JSON"}` + "\n"

// writeJSON writes v as JSON with status. It encodes into a buffer before
// the header goes out, so an answer is either complete or a 500: a value
// encoding/json refuses (a time past the year 9999, say) never leaves an
// empty 200 behind.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		writeJSONHeader(w, http.StatusInternalServerError)
		_, _ = io.WriteString(w, encodeFailed)
		return
	}
	writeJSONHeader(w, status)
	_, _ = buf.WriteTo(w)
}

// writeAck answers 200 {"status":outcome,"event_id":id} for an accepted
// webhook, as writeJSON would, without encoding/json on the hot path and in
// a pooled buffer (a Writer may not keep what it is given). id is at most
// prolific.MaxEventIDLen printable ASCII characters (buildEvent checks), so
// only '"' and '\\' need escaping; anything else goes through writeJSON.
func writeAck(w http.ResponseWriter, outcome, id string) {
	bp := ackBuffers.Get().(*[]byte)
	defer ackBuffers.Put(bp)
	buf := append((*bp)[:0], `{"status":"`...)
	buf = append(buf, outcome...)
	buf = append(buf, `","event_id":"`...)
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c < 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '&':
			writeJSON(w, http.StatusOK, ack{Status: outcome, EventID: id})
			return
		default:
			buf = append(buf, c)
		}
	}
	buf = append(buf, "\"}\n"...)
	*bp = buf
	writeJSONHeader(w, http.StatusOK)
	_, _ = w.Write(buf)
}

// ackBuffers hold writeAck's answers; an answer is at most a few hundred
// bytes, so a buffer never grows past that.
var ackBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// ack is the answer to an accepted webhook.
type ack struct {
	Status  string `json:"status"`
	EventID string `json:"event_id"`
}

// truncate bounds attacker-controlled strings before they reach logs.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
