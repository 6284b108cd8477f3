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
	if !json.Valid(body) {
		var v json.RawMessage // for json.Unmarshal's description of the fault
		err := json.Unmarshal(body, &v)
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	fields, err := topFields(body)
	if err != nil {
		return nil, err
	}
	eventType, err := stringField(fields, fieldEventType, true)
	if err != nil {
		return nil, err
	}
	resourceID, err := stringField(fields, fieldResourceID, true)
	if err != nil {
		return nil, err
	}
	switch eventType {
	case EventSubmissionStatusChange:
		participant, err := stringField(fields, fieldParticipantID, false)
		if err != nil {
			return nil, err
		}
		status, err := stringField(fields, fieldStatus, true)
		if err != nil {
			return nil, err
		}
		return &SubmissionStatusChange{ResourceID: resourceID, EventType: eventType, ParticipantID: participant, Status: status}, nil
	case EventStudyStatusChange:
		status, err := stringField(fields, fieldStatus, true)
		if err != nil {
			return nil, err
		}
		return &StudyStatusChange{ResourceID: resourceID, EventType: eventType, Metadata: fields.raw(fieldMetadata), Status: status}, nil
	case EventStudyProgressChange:
		return &StudyProgressChange{ResourceID: resourceID, EventType: eventType}, nil
	case EventStudyHighReturnRate:
		return &StudyHighReturnRate{ResourceID: resourceID, EventType: eventType, Metadata: fields.raw(fieldMetadata)}, nil
	default:
		return &Envelope{ResourceID: resourceID, EventType: eventType}, nil
	}
}

// The top-level keys Decode reads.
const (
	fieldEventType = iota
	fieldResourceID
	fieldStatus
	fieldParticipantID
	fieldMetadata
	numFields
)

var fieldNames = [numFields]string{"event_type", "resource_id", "status", "participant_id", "metadata"}

// fields holds the raw JSON value of each key Decode reads (nil: absent),
// slices of the body.
type fields [numFields][]byte

// raw returns a copy of field i's JSON value, nil when absent.
func (f *fields) raw(i int) json.RawMessage {
	if f[i] == nil {
		return nil
	}
	return bytes.Clone(f[i])
}

// topFields walks the members of body, a document json.Valid accepted, and
// keeps the value of each key Decode reads, the last one when a key repeats.
// Keys compare after unescaping, exactly, as with json.Unmarshal into a map.
func topFields(body []byte) (*fields, error) {
	f := new(fields)
	i := skipSpace(body, 0)
	switch body[i] {
	case '{':
	case 'n':
		return nil, fmt.Errorf("%w: body is null, not an object", ErrMalformed)
	case '[':
		return nil, fmt.Errorf("%w: body is an array, not an object", ErrMalformed)
	case '"':
		return nil, fmt.Errorf("%w: body is a string, not an object", ErrMalformed)
	case 't', 'f':
		return nil, fmt.Errorf("%w: body is a boolean, not an object", ErrMalformed)
	default:
		return nil, fmt.Errorf("%w: body is a number, not an object", ErrMalformed)
	}
	i = skipSpace(body, i+1)
	for body[i] != '}' {
		keyEnd := endOfValue(body, i)
		key := body[i:keyEnd]
		i = skipSpace(body, skipSpace(body, keyEnd)+1) // past the colon
		valueEnd := endOfValue(body, i)
		if k := fieldIndex(key); k >= 0 {
			f[k] = body[i:valueEnd]
		}
		i = skipSpace(body, valueEnd)
		if body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}
	return f, nil
}

// fieldIndex returns which of fieldNames the JSON string key names, or -1.
// A key without escapes is its bytes between the quotes (invalid UTF-8,
// which json.Unmarshal would replace, cannot spell an ASCII name either).
func fieldIndex(key []byte) int {
	inner := key[1 : len(key)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		var name string
		if err := json.Unmarshal(key, &name); err != nil {
			return -1
		}
		inner = []byte(name)
	}
	for k, n := range fieldNames {
		if string(inner) == n {
			return k
		}
	}
	return -1
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// endOfValue returns the index just past the JSON value that starts at
// b[i], in a document json.Valid accepted.
func endOfValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		for j := i + 1; ; j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch b[j] {
			case '"':
				j = endOfValue(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
	default: // a number, true, false or null
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return j
			}
			j++
		}
		return j
	}
}

// stringField reads field k as a JSON string; a required key must be a
// non-empty string, an optional one may be absent or null.
func stringField(f *fields, k int, required bool) (string, error) {
	key, raw := fieldNames[k], f[k]
	if raw == nil || string(raw) == "null" {
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
	if len(s) > MaxFieldLen {
		return "", fmt.Errorf("%w: %s is longer than %d bytes", ErrMalformed, key, MaxFieldLen)
	}
	if (k == fieldResourceID || k == fieldParticipantID) && (s == "." || s == "..") {
		// An ID goes into URL paths (Prolific's API, the dashboard's links),
		// where a dot segment names another resource.
		return "", fmt.Errorf("%w: %s is %q, a path dot segment", ErrMalformed, key, s)
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
