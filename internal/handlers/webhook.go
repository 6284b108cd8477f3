package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// handleWebhook stores a verified delivery and answers 200 only once it is
// durable: 200 for stored and duplicate events, 400 for a body or header we
// cannot read, 503 when the store could not commit (Prolific retries).
func handleWebhook(d *webhookDeps) func(http.ResponseWriter, *http.Request, verified) {
	return func(w http.ResponseWriter, r *http.Request, del verified) {
		ev, rej := buildEvent(r, &del)
		if rej != nil {
			reject(d, w, r, ev.Type, *rej)
			return
		}
		start := time.Now()
		outcome, err := d.Saver.Save(r.Context(), ev)
		d.Metrics.CommitDuration.Observe(time.Since(start).Seconds())
		if err != nil && r.Context().Err() != nil {
			senderLeft(d, w, r, ev)
			return
		}
		if err != nil {
			d.Metrics.StoreErrors.Inc()
			reject(d, w, r, ev.Type, rejection{status: http.StatusServiceUnavailable, reason: "store_error",
				msg: "event could not be stored; retry later", err: err})
			return
		}
		d.Metrics.webhook(ev.Type, outcome.String()).Inc()
		d.Log.Debug().Str("event_id", ev.ID).Str("event_type", ev.Type).
			Str("resource_id", ev.ResourceID).Str("outcome", outcome.String()).Msg("webhook accepted")
		writeAck(w, outcome.String(), ev.ID)
	}
}

// statusClientClosed is the status recorded for a request whose client left
// before the answer (nginx's "client closed request"); nobody reads it.
const statusClientClosed = 499

// senderLeft ends a delivery whose sender hung up (or timed out) while its
// event waited for the store: not a store error, and not an answer anybody
// reads. The event was either withdrawn before its commit began (not
// stored) or the store would have answered with its true outcome; either
// way Prolific retries under the same X-Event-ID and is answered 200
// (stored, or duplicate).
func senderLeft(d *webhookDeps, w http.ResponseWriter, r *http.Request, ev *store.Event) {
	d.Log.Info().Str("event_id", ev.ID).Str("event_type", truncate(ev.Type, 64)).Str("remote", r.RemoteAddr).
		Msg("webhook sender went away before the event was stored; not stored, Prolific retries it")
	d.Metrics.webhook(ev.Type, "cancelled").Inc()
	d.Metrics.Cancelled.WithLabelValues("webhook").Inc()
	w.WriteHeader(statusClientClosed)
}

// buildEvent turns a verified delivery into the event to store, dispatching
// on the typed body. The returned event is non-nil even on rejection so the
// caller can label the rejection with its type. It is received when it
// was verified.
func buildEvent(r *http.Request, del *verified) (*store.Event, *rejection) {
	ev := &store.Event{ReceivedAt: del.now.UTC()}
	id := header(r.Header, keyEventID)
	switch err := prolific.CheckEventID(id); {
	case errors.Is(err, prolific.ErrNoEventID):
		return ev, &rejection{status: http.StatusBadRequest, reason: "missing_event_id", msg: "missing X-Event-ID header"}
	case err != nil:
		return ev, &rejection{status: http.StatusBadRequest, reason: "bad_event_id",
			msg: fmt.Sprintf("X-Event-ID must be at most %d printable ASCII characters", prolific.MaxEventIDLen)}
	}
	ev.ID = id
	f, err := prolific.Read(del.body)
	ev.Type, ev.ResourceID, ev.Status, ev.ParticipantID, ev.StudyID = f.Type, f.ResourceID, f.Status, f.ParticipantID, f.StudyID
	switch {
	case errors.Is(err, prolific.ErrNotUTF8):
		return ev, &rejection{status: http.StatusBadRequest, reason: "malformed", msg: "body is not valid UTF-8"}
	case errors.Is(err, prolific.ErrNUL):
		return ev, &rejection{status: http.StatusBadRequest, reason: "malformed", msg: "body fields contain a NUL character"}
	case err != nil:
		return ev, &rejection{status: http.StatusBadRequest, reason: "malformed",
			msg: "body is not a Prolific webhook: " + err.Error(), err: err}
	}
	eventTime, rej := eventTime(header(r.Header, keyTimestamp), del.result.Timestamp)
	if rej != nil {
		return ev, rej
	}
	ev.EventTime = eventTime
	ev.SignatureForm = string(del.result.Form)
	// The hash covers what was signed, not the bytes as they came: a body
	// re-spaced so that it verifies through another form is the same event.
	ev.ContentHash = store.ContentHash(del.requestTimestamp, del.result.Message)
	ev.Body = del.body
	return ev, nil
}

// eventTime reads X-Timestamp, which orders projection updates. It is not
// signed, so it may not claim a time after the signed request timestamp (a
// tampered header could otherwise pin a projection); when absent, the signed
// request timestamp stands in.
func eventTime(header string, signed time.Time) (time.Time, *rejection) {
	if header == "" {
		return signed.UTC(), nil
	}
	t, err := verify.ParseTimestamp(header)
	if err != nil {
		return time.Time{}, &rejection{status: http.StatusBadRequest, reason: "bad_event_timestamp",
			msg: "X-Timestamp is not a UNIX timestamp", err: err}
	}
	if t.After(signed) {
		t = signed
	}
	return t.UTC(), nil
}
