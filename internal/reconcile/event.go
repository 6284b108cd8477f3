package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// errInvalid marks a delivery-log entry that is not a readable Prolific event.
var errInvalid = errors.New("invalid delivery-log entry")

// fromLog turns a delivery-log entry into the event a webhook for it would
// have stored: ID the entry's id (Prolific's X-Event-ID for the delivery,
// docs/reconcile.md), fields from the payload by prolific.Read and the ID
// checked by prolific.CheckEventID, the rule the webhook handler applies
// too, so a log entry and a webhook are never judged differently, EventTime the entry's creation time in whole seconds
// (X-Timestamp's resolution, so the ordering rule compares like with
// like), and a content hash over type, resource, payload and creation time.
func fromLog(sub Subscription, e prolific.SubscriptionEvent, now time.Time) (*store.Event, error) {
	switch {
	case prolific.CheckEventID(e.ID) != nil:
		return nil, fmt.Errorf("%w: id %q is empty, too long or not printable ASCII", errInvalid, safeID(e.ID))
	case e.Created.IsZero():
		return nil, fmt.Errorf("%w: datetime_created missing or not ISO-8601", errInvalid)
	case len(e.Payload) == 0 || string(e.Payload) == "null":
		return nil, fmt.Errorf("%w: no payload", errInvalid)
	}
	f, err := prolific.Read(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not a Prolific event: %w", errInvalid, err)
	}
	ev := &store.Event{ID: e.ID, ReceivedAt: now, Source: store.SourceAPI,
		Type: f.Type, ResourceID: f.ResourceID, Status: f.Status, ParticipantID: f.ParticipantID, StudyID: f.StudyID}
	switch {
	case e.EventType != "" && ev.Type != e.EventType, sub.EventType != "" && ev.Type != sub.EventType:
		return nil, fmt.Errorf("%w: payload event_type %q differs from the entry's %q (subscription to %q)",
			errInvalid, ev.Type, e.EventType, sub.EventType)
	case e.ResourceID != "" && ev.ResourceID != e.ResourceID:
		return nil, fmt.Errorf("%w: payload resource_id differs from the entry's", errInvalid)
	}
	ev.EventTime = e.Created.UTC().Truncate(time.Second)
	ev.Body = []byte(e.Payload)
	ev.ContentHash = store.ContentHash("api:"+e.Created.UTC().Format(time.RFC3339Nano)+":", []byte(ev.Type+"\x00"+ev.ResourceID+"\x00"+canonical(ev.Body)))
	return ev, nil
}

// canonical is b as one normalised JSON text (object keys sorted, no
// spaces), so the same payload compares equal however it was spaced.
func canonical(b []byte) string {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return string(b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return string(b)
	}
	return string(out)
}

// correction is what a synthetic event's body says beyond Prolific's own
// fields: the value the store held and when Prolific's API was read.
type correction struct {
	PreviousStatus string `json:"previous_status"`
	StudyID        string `json:"study_id,omitempty"`
	CheckedAt      string `json:"checked_at"`
}

// syntheticBody is a Prolific-shaped body plus the "reconcile" object, so
// every reader of webhook bodies can read it.
type syntheticBody struct {
	ResourceID    string     `json:"resource_id"`
	EventType     string     `json:"event_type"`
	ParticipantID string     `json:"participant_id,omitempty"`
	Status        string     `json:"status"`
	Reconcile     correction `json:"reconcile"`
}

// synthetic builds the event recording a correction: resource now has
// status, as Prolific's API said at checkedAt (the event time, in whole
// seconds), where the store held previous. Its ID is derived from what it
// says, so a retried pass cannot store it twice.
func synthetic(eventType, resourceID, participantID, studyID, status, previous string, checkedAt, now time.Time) *store.Event {
	at := checkedAt.UTC().Truncate(time.Second)
	body, _ := json.Marshal(syntheticBody{ResourceID: resourceID, EventType: eventType, ParticipantID: participantID,
		Status: status, Reconcile: correction{PreviousStatus: previous, StudyID: studyID, CheckedAt: at.Format(time.RFC3339)}})
	sum := sha256.Sum256([]byte(eventType + "\x00" + resourceID + "\x00" + status + "\x00" + at.Format(time.RFC3339)))
	id := "reconcile-" + hex.EncodeToString(sum[:12])
	return &store.Event{
		ID: id, Type: eventType, ResourceID: resourceID, Status: status, ParticipantID: participantID,
		StudyID: studyID, EventTime: at, ReceivedAt: now.UTC(), Source: store.SourceReconcile,
		ContentHash: store.ContentHash("reconcile:", []byte(id)), Body: body,
	}
}
