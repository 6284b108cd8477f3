package outputs

import (
	"encoding/json"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// Message is the JSON body every output forwards for one event
// (docs/outputs.md "The message").
type Message struct {
	EventID       string          `json:"event_id"` // Prolific's X-Event-ID; also webhook-id and Nats-Msg-Id
	EventType     string          `json:"event_type"`
	ResourceID    string          `json:"resource_id"`
	Status        string          `json:"status,omitempty"`
	ParticipantID string          `json:"participant_id,omitempty"`
	StudyID       string          `json:"study_id,omitempty"` // resolved for submissions when known
	Source        string          `json:"source"`             // how the receiver learnt of the event
	EventTime     time.Time       `json:"event_time"`         // X-Timestamp
	ReceivedAt    time.Time       `json:"received_at"`
	Seq           int64           `json:"seq"`  // the receiver's store order
	Body          json.RawMessage `json:"body"` // Prolific's body as received
}

// NewMessage builds the message for a stored event.
func NewMessage(e *store.Event) Message {
	body := json.RawMessage(e.Body)
	if !json.Valid(body) {
		// Never stored by the webhook path (it answers 400), but a message
		// must stay valid JSON: carry the bytes as a string.
		body, _ = json.Marshal(string(e.Body))
	}
	return Message{EventID: e.ID, EventType: e.Type, ResourceID: e.ResourceID, Status: e.Status,
		ParticipantID: e.ParticipantID, StudyID: e.StudyID, Source: store.SourceOf(e), EventTime: e.EventTime,
		ReceivedAt: e.ReceivedAt, Seq: e.Seq, Body: body}
}

// Encode returns m as JSON.
func (m Message) Encode() []byte {
	b, _ := json.Marshal(m) // every field encodes
	return b
}
