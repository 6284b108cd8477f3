package prolific

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheckEventID(t *testing.T) {
	for _, tc := range []struct {
		name, id string
		want     error
	}{
		{"Prolific's form", "6650a1b2c3d4e5f601234567", nil},
		{"any printable ASCII", `a/b"c\d~!`, nil},
		{"at the bound", strings.Repeat("a", MaxEventIDLen), nil},
		{"empty", "", ErrNoEventID},
		{"one past the bound", strings.Repeat("a", MaxEventIDLen+1), ErrBadEventID},
		{"space", "a b", ErrBadEventID},
		{"control byte", "a\tb", ErrBadEventID},
		{"NUL", "a\x00b", ErrBadEventID},
		{"DEL", "a\x7fb", ErrBadEventID},
		{"non-ASCII", "aéb", ErrBadEventID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckEventID(tc.id); !errors.Is(got, tc.want) || (tc.want == nil) != (got == nil) {
				t.Errorf("CheckEventID(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		want    Fields
		wantErr error
	}{
		{name: "submission", body: `{"resource_id": "s1", "event_type": "submission.status.change", "participant_id": "p1", "status": "APPROVED"}`,
			want: Fields{Type: EventSubmissionStatusChange, ResourceID: "s1", Status: "APPROVED", ParticipantID: "p1"}},
		{name: "study status", body: `{"resource_id": "st1", "event_type": "study.status.change", "status": "ACTIVE", "metadata": {}}`,
			want: Fields{Type: EventStudyStatusChange, ResourceID: "st1", Status: "ACTIVE", StudyID: "st1"}},
		{name: "study progress", body: `{"resource_id": "st1", "event_type": "study.progress.change"}`,
			want: Fields{Type: EventStudyProgressChange, ResourceID: "st1", StudyID: "st1"}},
		{name: "high return rate", body: `{"resource_id": "st1", "event_type": "study.has_high_return_rate"}`,
			want: Fields{Type: EventStudyHighReturnRate, ResourceID: "st1", StudyID: "st1"}},
		{name: "unknown type kept with type and resource", body: `{"resource_id": "r1", "event_type": "participant.created", "status": "X"}`,
			want: Fields{Type: "participant.created", ResourceID: "r1"}},
		{name: "invalid UTF-8", body: "{\"resource_id\": \"\xff\xfe\", \"event_type\": \"study.progress.change\"}", wantErr: ErrNotUTF8},
		{name: "NUL in resource_id", body: `{"resource_id": "ab\u0000cd", "event_type": "study.progress.change"}`, wantErr: ErrNUL},
		{name: "NUL in status", body: `{"resource_id": "s1", "event_type": "submission.status.change", "status": "A\u0000"}`, wantErr: ErrNUL},
		{name: "NUL in participant_id", body: `{"resource_id": "s1", "event_type": "submission.status.change", "participant_id": "\u0000", "status": "A"}`, wantErr: ErrNUL},
		{name: "not JSON", body: `{"resource_id": `, wantErr: ErrMalformed},
		{name: "missing status", body: `{"resource_id": "s1", "event_type": "submission.status.change"}`, wantErr: ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read([]byte(tc.body))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrMalformed) {
					t.Fatalf("Read(%q) error = %v, want %v (wrapping ErrMalformed)", tc.body, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read(%q) error = %v", tc.body, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Read(%q) (-want +got):\n%s", tc.body, diff)
			}
		})
	}
}

// TestReadBoundsFields: IDs, type and status are bounded (MaxFieldLen) and an
// ID may not be a path dot segment; at the bound they pass.
func TestReadBoundsFields(t *testing.T) {
	long := strings.Repeat("a", MaxFieldLen+1)
	atBound := strings.Repeat("a", MaxFieldLen)
	body := func(typ, res, part, status string) []byte {
		b, _ := json.Marshal(map[string]string{"event_type": typ, "resource_id": res, "participant_id": part, "status": status})
		return b
	}
	const sub = EventSubmissionStatusChange
	for _, tc := range []struct {
		name string
		body []byte
		ok   bool
	}{
		{"at the bound", body(sub, atBound, atBound, atBound), true},
		{"resource_id of 900 KB", body(sub, strings.Repeat("f", 900<<10), "p", "APPROVED"), false},
		{"resource_id one past the bound", body(sub, long, "p", "APPROVED"), false},
		{"participant_id one past the bound", body(sub, "r", long, "APPROVED"), false},
		{"status one past the bound", body(sub, "r", "p", long), false},
		{"event_type one past the bound", body(long, "r", "p", "APPROVED"), false},
		{"resource_id ..", body(EventStudyProgressChange, "..", "", ""), false},
		{"resource_id .", body(EventStudyStatusChange, ".", "", "ACTIVE"), false},
		{"participant_id ..", body(sub, "r", "..", "APPROVED"), false},
		{"resource_id ... is an ordinary name", body(EventStudyProgressChange, "...", "", ""), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(tc.body)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrMalformed)) {
				t.Errorf("Read() error = %v, want ok=%v (else ErrMalformed)", err, tc.ok)
			}
		})
	}
}
