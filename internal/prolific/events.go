package prolific

import (
	"encoding/json"
	"errors"
	"fmt"
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
// with string event_type and resource_id; known types need their status field.
func Decode(body []byte) (any, error) {
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if env.EventType == "" {
		return nil, fmt.Errorf("%w: event_type is missing", ErrMalformed)
	}
	if env.ResourceID == "" {
		return nil, fmt.Errorf("%w: resource_id is missing", ErrMalformed)
	}
	var v any
	switch env.EventType {
	case EventSubmissionStatusChange:
		e := new(SubmissionStatusChange)
		if err := json.Unmarshal(body, e); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if e.Status == "" {
			return nil, fmt.Errorf("%w: status is missing", ErrMalformed)
		}
		v = e
	case EventStudyStatusChange:
		e := new(StudyStatusChange)
		if err := json.Unmarshal(body, e); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if e.Status == "" {
			return nil, fmt.Errorf("%w: status is missing", ErrMalformed)
		}
		v = e
	case EventStudyProgressChange:
		v = &StudyProgressChange{ResourceID: env.ResourceID, EventType: env.EventType}
	case EventStudyHighReturnRate:
		e := new(StudyHighReturnRate)
		if err := json.Unmarshal(body, e); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		v = e
	default:
		v = &env
	}
	return v, nil
}
