package prolific

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Event types Prolific documents (webhooks.md §3).
const (
	EventSubmissionStatusChange = "submission.status.change"
	EventStudyStatusChange      = "study.status.change"
	EventStudyProgressChange    = "study.progress.change"
	EventStudyHighReturnRate    = "study.has_high_return_rate"
)

// EventTypes are every event type Prolific documents, studies' first.
var EventTypes = []string{EventStudyStatusChange, EventStudyProgressChange, EventSubmissionStatusChange, EventStudyHighReturnRate}

// DefaultEventTypes are the event types the receiver subscribes to unless told otherwise.
var DefaultEventTypes = []string{EventStudyStatusChange, EventStudyProgressChange, EventSubmissionStatusChange}

// Headers Prolific sets on every delivery (webhooks.md §2.1).
const (
	HeaderSignature        = "X-Prolific-Request-Signature"
	HeaderRequestTimestamp = "X-Prolific-Request-Timestamp"
	HeaderEventID          = "X-Event-ID"
	HeaderTimestamp        = "X-Timestamp"
	HeaderHookSecret       = "X-Hook-Secret"
)

// Envelope holds the fields every webhook body shares. Unknown event types
// decode into an Envelope only.
type Envelope struct {
	ResourceID string `json:"resource_id"`
	EventType  string `json:"event_type"`
}

// SubmissionStatusChange is the body of submission.status.change.
type SubmissionStatusChange struct {
	ResourceID    string `json:"resource_id"` // submission ID
	EventType     string `json:"event_type"`
	ParticipantID string `json:"participant_id"`
	Status        string `json:"status"` // new status, spelled as Prolific spells it
}

// StudyStatusChange is the body of study.status.change.
type StudyStatusChange struct {
	ResourceID string          `json:"resource_id"` // study ID
	EventType  string          `json:"event_type"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	Status     string          `json:"status"`
}

// StudyProgressChange is the body of study.progress.change; it carries no numbers.
type StudyProgressChange struct {
	ResourceID string `json:"resource_id"` // study ID
	EventType  string `json:"event_type"`
}

// StudyHighReturnRate is the body of study.has_high_return_rate.
type StudyHighReturnRate struct {
	ResourceID string          `json:"resource_id"` // study ID
	EventType  string          `json:"event_type"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
}

// ErrMalformed is wrapped by every Decode error: the body is not a webhook we can read.
var ErrMalformed = errors.New("malformed event")

// MaxFieldLen bounds event_type, resource_id, participant_id and status
// (in bytes). Prolific's IDs are 24 hex characters and its statuses a few
// words; the bound is generous, but it keeps a body from turning a 900 KB
// string into a store key, a Prometheus label value or a URL.
const MaxFieldLen = 128

// Decode parses a webhook body into its typed form: *SubmissionStatusChange,
// *StudyStatusChange, *StudyProgressChange, *StudyHighReturnRate, or *Envelope
// for an event type the receiver does not know. Every form needs a JSON object
// with string event_type and resource_id; status changes need a string status.
// Keys match exactly (encoding/json's struct decoding would also take
// "EVENT_TYPE"), and a repeated key keeps its last value, as Python's
// json.loads does.
func Decode(body []byte) (any, error) {
	s, err := scan(body)
	if err != nil {
		return nil, err
	}
	eventType, resourceID := string(s.eventType), string(s.resourceID)
	switch eventType {
	case EventSubmissionStatusChange:
		return &SubmissionStatusChange{ResourceID: resourceID, EventType: eventType,
			ParticipantID: string(s.participantID), Status: string(s.status)}, nil
	case EventStudyStatusChange:
		return &StudyStatusChange{ResourceID: resourceID, EventType: eventType, Metadata: cloneRaw(s.metadata),
			Status: string(s.status)}, nil
	case EventStudyProgressChange:
		return &StudyProgressChange{ResourceID: resourceID, EventType: eventType}, nil
	case EventStudyHighReturnRate:
		return &StudyHighReturnRate{ResourceID: resourceID, EventType: eventType, Metadata: cloneRaw(s.metadata)}, nil
	default:
		return &Envelope{ResourceID: resourceID, EventType: eventType}, nil
	}
}

// cloneRaw returns a copy of a JSON value taken from the body, nil when absent.
func cloneRaw(raw []byte) json.RawMessage {
	if raw == nil {
		return nil
	}
	return bytes.Clone(raw)
}
