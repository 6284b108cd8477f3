package prolific

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// readOverDecode is Read written plainly over Decode's typed values, as it
// was before Read scanned the body itself: FuzzRead holds Read to it.
func readOverDecode(body []byte) (Fields, error) {
	if !utf8.Valid(body) {
		return Fields{}, ErrNotUTF8
	}
	typed, err := Decode(body)
	if err != nil {
		return Fields{}, err
	}
	var f Fields
	switch e := typed.(type) {
	case *SubmissionStatusChange:
		f = Fields{Type: e.EventType, ResourceID: e.ResourceID, Status: e.Status, ParticipantID: e.ParticipantID}
	case *StudyStatusChange:
		f = Fields{Type: e.EventType, ResourceID: e.ResourceID, Status: e.Status, StudyID: e.ResourceID}
	case *StudyProgressChange:
		f = Fields{Type: e.EventType, ResourceID: e.ResourceID, StudyID: e.ResourceID}
	case *StudyHighReturnRate:
		f = Fields{Type: e.EventType, ResourceID: e.ResourceID, StudyID: e.ResourceID}
	case *Envelope:
		f = Fields{Type: e.EventType, ResourceID: e.ResourceID}
	}
	if strings.ContainsRune(f.Type+f.ResourceID+f.Status+f.ParticipantID, 0) {
		return f, ErrNUL
	}
	return f, nil
}

// FuzzRead: Read gives exactly the fields and the error that reading the
// body through Decode gives, and none of its strings shares memory with
// the body (overwriting the body afterwards changes none of them).
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		`{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "submission.status.change", "participant_id": "5f1e2d3c4b5a69788796a5b4", "status": "AWAITING REVIEW"}`,
		`{"resource_id": "s1", "event_type": "submission.status.change", "status": "NOT A STATUS"}`,
		`{"resource_id": "s1", "event_type": "submission.status.change", "participant_id": null, "status": "APPROVED"}`,
		`{"resource_id": "s1", "event_type": "submission.status.change", "participant_id": "", "status": "APPROVED"}`,
		`{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "study.status.change", "metadata": {}, "status": "ACTIVE"}`,
		`{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "study.progress.change", "status": "X", "participant_id": "p"}`,
		`{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "study.has_high_return_rate", "metadata": {"rate": 0.4}}`,
		`{"resource_id": "abc", "event_type": "participant.created", "status": "ACTIVE", "participant_id": "p"}`,
		`{"resource_id": "a\u0000", "event_type": "study.progress.change"}`,
		`{"resource_id": "s", "event_type": "submission.status.change", "participant_id": "\u0000", "status": "A"}`,
		`{"resource_id": "s", "event_type": "submission.status.change", "participant_id": "..", "status": "A"}`,
		`{"resource_id": "a\u00e9\"b", "event_type": "study.status.change", "status": "A\\B"}`,
		`{"event\u005ftype": "study.status.change", "resource_id": "x", "status": "PAUSED"}`,
		"{\"resource_id\": \"a\xffb\", \"event_type\": \"study.status.change\", \"status\": \"A\"}",
		`[]`, `null`, `{}`, `{"resource_id": "x"`, `{"a":1} trailing`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantErr := readOverDecode(body)
		got, err := Read(body)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("Read(%q) error = %v, want %v", body, err, wantErr)
		}
		for _, sentinel := range []error{ErrMalformed, ErrNotUTF8, ErrNUL} {
			if errors.Is(err, sentinel) != errors.Is(wantErr, sentinel) {
				t.Fatalf("Read(%q) error = %v: errors.Is(%v) differs from Decode's reading (%v)", body, err, sentinel, wantErr)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Read(%q) (-through Decode +Read):\n%s", body, diff)
		}
		kept := Fields{Type: strings.Clone(got.Type), ResourceID: strings.Clone(got.ResourceID),
			Status: strings.Clone(got.Status), ParticipantID: strings.Clone(got.ParticipantID), StudyID: strings.Clone(got.StudyID)}
		copy(body, bytes.Repeat([]byte{'#'}, len(body)))
		if diff := cmp.Diff(kept, got); diff != "" {
			t.Fatalf("Read's fields changed when the body was overwritten (-before +after):\n%s", diff)
		}
	})
}

// TestReadAllocations: a documented event with a listed status costs one
// allocation (its IDs); an unlisted status or event type costs one more.
func TestReadAllocations(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       float64
	}{
		{"submission", `{"resource_id": "60a3f1f0c7e4f3a1b2c3d4e5", "event_type": "submission.status.change", "participant_id": "5f1e2d3c4b5a697887766554", "status": "AWAITING REVIEW"}`, 1},
		{"study status", `{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "study.status.change", "metadata": {"reason": "manual"}, "status": "PAUSED"}`, 1},
		{"study progress", `{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "study.progress.change"}`, 1},
		{"unlisted status", `{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "study.status.change", "status": "ARCHIVED"}`, 2},
		{"unknown type", `{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "study.something.new"}`, 2},
	} {
		body := []byte(tc.body)
		got := testing.AllocsPerRun(100, func() {
			if _, err := Read(body); err != nil {
				t.Fatal(err)
			}
		})
		if got != tc.want {
			t.Errorf("Read(%s) allocations = %v, want %v", tc.name, got, tc.want)
		}
	}
}
