package prolific

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Event types Prolific documents (webhooks.md §3).
const (
	EventSubmissionStatusChange = "submission.status.change"
	EventStudyStatusChange      = "study.status.change"
	EventStudyProgressChange    = "study.progress.change"
	EventStudyHighReturnRate    = "study.has_high_return_rate"
)

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

// Decode parses a webhook body into its typed form: *SubmissionStatusChange,
// *StudyStatusChange, *StudyProgressChange, *StudyHighReturnRate, or *Envelope
// for an event type the receiver does not know. Every form needs a JSON object
// with string event_type and resource_id; status changes need a string status.
// Keys match exactly (encoding/json's struct decoding would also take
// "EVENT_TYPE"), and a repeated key keeps its last value, as Python's
// json.loads does.
func Decode(body []byte) (any, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if fields == nil {
		return nil, fmt.Errorf("%w: body is null, not an object", ErrMalformed)
	}
	eventType, err := stringField(fields, "event_type", true)
	if err != nil {
		return nil, err
	}
	resourceID, err := stringField(fields, "resource_id", true)
	if err != nil {
		return nil, err
	}
	switch eventType {
	case EventSubmissionStatusChange:
		participant, err := stringField(fields, "participant_id", false)
		if err != nil {
			return nil, err
		}
		status, err := stringField(fields, "status", true)
		if err != nil {
			return nil, err
		}
		return &SubmissionStatusChange{ResourceID: resourceID, EventType: eventType, ParticipantID: participant, Status: status}, nil
	case EventStudyStatusChange:
		status, err := stringField(fields, "status", true)
		if err != nil {
			return nil, err
		}
		return &StudyStatusChange{ResourceID: resourceID, EventType: eventType, Metadata: fields["metadata"], Status: status}, nil
	case EventStudyProgressChange:
		return &StudyProgressChange{ResourceID: resourceID, EventType: eventType}, nil
	case EventStudyHighReturnRate:
		return &StudyHighReturnRate{ResourceID: resourceID, EventType: eventType, Metadata: fields["metadata"]}, nil
	default:
		return &Envelope{ResourceID: resourceID, EventType: eventType}, nil
	}
}

// stringField reads fields[key] as a JSON string; a required key must be a
// non-empty string, an optional one may be absent or null.
func stringField(fields map[string]json.RawMessage, key string, required bool) (string, error) {
	raw, ok := fields[key]
	if !ok || string(raw) == "null" {
		if required {
			return "", fmt.Errorf("%w: %s is missing", ErrMalformed, key)
		}
		return "", nil
	}
	s, ok := plainString(raw)
	if !ok {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%w: %s must be a string", ErrMalformed, key)
		}
	}
	if required && s == "" {
		return "", fmt.Errorf("%w: %s is empty", ErrMalformed, key)
	}
	return s, nil
}

// plainString returns the value of raw, a JSON value taken from a document
// json.Unmarshal accepted, when it is a string without escapes and in valid
// UTF-8: then its value is exactly the bytes between the quotes, which is
// what json.Unmarshal would return, at a fraction of the cost. Other
// strings (escapes, invalid UTF-8 that Unmarshal would replace) and
// non-strings are left to json.Unmarshal.
func plainString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 || !utf8.Valid(inner) {
		return "", false
	}
	return string(inner), true
}
