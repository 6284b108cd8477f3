package prolific

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxEventIDLen bounds an event's ID, whether it came as X-Event-ID on a
// webhook or as a delivery-log entry's id (Prolific's are 24 hex characters).
const MaxEventIDLen = 128

// Errors of the event rule. ErrNotUTF8 and ErrNUL wrap ErrMalformed, as
// every Decode error does, so errors.Is(err, ErrMalformed) holds for every
// body Read refuses. None of them quotes its input.
var (
	ErrNoEventID  = errors.New("event ID is missing")
	ErrBadEventID = fmt.Errorf("event ID must be at most %d printable ASCII characters", MaxEventIDLen)
	ErrNotUTF8    = fmt.Errorf("%w: body is not valid UTF-8", ErrMalformed)
	ErrNUL        = fmt.Errorf("%w: body fields contain a NUL character", ErrMalformed)
)

// Fields is what the receiver keeps of an event besides its body: the
// values it stores, indexes and projects. StudyID is set for study events
// (the study is the resource); a submission event's study is not in its body.
type Fields struct {
	Type          string
	ResourceID    string
	Status        string
	ParticipantID string
	StudyID       string
}

// CheckEventID reports whether id may name an event: present, at most
// MaxEventIDLen bytes, printable ASCII only (no spaces or control bytes).
func CheckEventID(id string) error {
	switch {
	case id == "":
		return ErrNoEventID
	case len(id) > MaxEventIDLen || !printableASCII(id):
		return ErrBadEventID
	}
	return nil
}

// Read is the one rule for what a Prolific event body is, used alike for a
// webhook's body and a delivery-log entry's payload so the two can never be
// judged differently: valid UTF-8, a body Decode accepts, and no NUL in the
// fields the receiver stores as text (valid JSON, but no database text
// column takes it: PostgreSQL refuses NUL). An event type the receiver does
// not know is kept with its type and resource only.
//
// It reads the body once more after checking it, and makes one string for
// the IDs: a documented event type and a status Prolific lists are the
// package's own constants.
func Read(body []byte) (Fields, error) {
	if !utf8.Valid(body) {
		return Fields{}, ErrNotUTF8
	}
	s, err := scan(body)
	if err != nil {
		return Fields{}, err
	}
	f := Fields{Type: intern(s.eventType, EventTypes)}
	if len(s.participantID) == 0 {
		f.ResourceID = string(s.resourceID)
	} else {
		// One allocation for both IDs (resource_id is never empty, so the
		// concatenation always copies).
		ids := string(s.resourceID) + string(s.participantID)
		f.ResourceID, f.ParticipantID = ids[:len(s.resourceID)], ids[len(s.resourceID):]
	}
	switch f.Type {
	case EventSubmissionStatusChange:
		f.Status = intern(s.status, SubmissionStatuses)
	case EventStudyStatusChange:
		f.Status, f.StudyID = intern(s.status, StudyStatuses), f.ResourceID
	case EventStudyProgressChange, EventStudyHighReturnRate:
		f.StudyID = f.ResourceID
	}
	for _, b := range [...][]byte{s.eventType, s.resourceID, s.status, s.participantID} {
		if bytes.IndexByte(b, 0) >= 0 {
			return f, ErrNUL
		}
	}
	return f, nil
}

// intern returns the member of known that b spells, or else a new string
// of b.
func intern(b []byte, known []string) string {
	for _, k := range known {
		if string(b) == k {
			return k
		}
	}
	return string(b)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
