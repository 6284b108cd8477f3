package prolific

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// scanned is what Decode and Read take from a body: each string field's
// value as bytes (nil when absent or null) and metadata's raw JSON value
// (nil when absent), for the fields the body's event type carries. A value
// is a slice of the body itself when its JSON string has no escapes, which
// is how Prolific writes them, so scanning allocates nothing; the callers
// choose how to make strings of them.
type scanned struct {
	eventType, resourceID, status, participantID, metadata []byte
}

// scan checks that body is a webhook body Decode accepts and reads its
// fields: a JSON object with non-empty string event_type and resource_id;
// for submission.status.change an optional participant_id and a required
// status; for study.status.change a required status and metadata; for
// study.has_high_return_rate metadata. Its errors are Decode's.
func scan(body []byte) (scanned, error) {
	if !json.Valid(body) {
		var v json.RawMessage // for json.Unmarshal's description of the fault
		err := json.Unmarshal(body, &v)
		return scanned{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var f fields
	if err := f.read(body); err != nil {
		return scanned{}, err
	}
	var s scanned
	var err error
	if s.eventType, err = stringField(&f, fieldEventType, true); err != nil {
		return scanned{}, err
	}
	if s.resourceID, err = stringField(&f, fieldResourceID, true); err != nil {
		return scanned{}, err
	}
	switch string(s.eventType) {
	case EventSubmissionStatusChange:
		if s.participantID, err = stringField(&f, fieldParticipantID, false); err != nil {
			return scanned{}, err
		}
		if s.status, err = stringField(&f, fieldStatus, true); err != nil {
			return scanned{}, err
		}
	case EventStudyStatusChange:
		if s.status, err = stringField(&f, fieldStatus, true); err != nil {
			return scanned{}, err
		}
		s.metadata = f[fieldMetadata]
	case EventStudyHighReturnRate:
		s.metadata = f[fieldMetadata]
	}
	return s, nil
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

// read walks the members of body, a document json.Valid accepted, and
// keeps the value of each key Decode reads, the last one when a key repeats.
// Keys compare after unescaping, exactly, as with json.Unmarshal into a map.
func (f *fields) read(body []byte) error {
	i := skipSpace(body, 0)
	switch body[i] {
	case '{':
	case 'n':
		return fmt.Errorf("%w: body is null, not an object", ErrMalformed)
	case '[':
		return fmt.Errorf("%w: body is an array, not an object", ErrMalformed)
	case '"':
		return fmt.Errorf("%w: body is a string, not an object", ErrMalformed)
	case 't', 'f':
		return fmt.Errorf("%w: body is a boolean, not an object", ErrMalformed)
	default:
		return fmt.Errorf("%w: body is a number, not an object", ErrMalformed)
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
	return nil
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

// stringField reads field k as a JSON string and returns its value; a
// required key must be a non-empty string, an optional one may be absent
// or null (nil).
func stringField(f *fields, k int, required bool) ([]byte, error) {
	key, raw := fieldNames[k], f[k]
	if raw == nil || string(raw) == "null" {
		if required {
			return nil, fmt.Errorf("%w: %s is missing", ErrMalformed, key)
		}
		return nil, nil
	}
	v, ok := plainString(raw)
	if !ok {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%w: %s must be a string", ErrMalformed, key)
		}
		v = []byte(s)
	}
	if required && len(v) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrMalformed, key)
	}
	if len(v) > MaxFieldLen {
		return nil, fmt.Errorf("%w: %s is longer than %d bytes", ErrMalformed, key, MaxFieldLen)
	}
	if (k == fieldResourceID || k == fieldParticipantID) && (string(v) == "." || string(v) == "..") {
		// An ID goes into URL paths (Prolific's API, the dashboard's links),
		// where a dot segment names another resource.
		return nil, fmt.Errorf("%w: %s is %q, a path dot segment", ErrMalformed, key, v)
	}
	return v, nil
}

// plainString returns the value of raw, a JSON value taken from a document
// json.Unmarshal accepted, when it is a string without escapes and in valid
// UTF-8: then its value is exactly the bytes between the quotes, which is
// what json.Unmarshal would return, at a fraction of the cost. Other
// strings (escapes, invalid UTF-8 that Unmarshal would replace) and
// non-strings are left to json.Unmarshal.
func plainString(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 || !utf8.Valid(inner) {
		return nil, false
	}
	return inner, true
}
