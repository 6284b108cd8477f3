package prolific

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every error wraps
// ErrMalformed, and that whenever it succeeds the typed value agrees with a
// plain json.Unmarshal into a map: resource_id and event_type are non-empty
// strings equal to the map's, and so are status and participant_id for the
// types that carry them.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "submission.status.change", "participant_id": "5f1e2d3c4b5a69788796a5b4", "status": "AWAITING REVIEW"}`,
		`{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "study.status.change", "metadata": {}, "status": "ACTIVE"}`,
		`{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "study.progress.change"}`,
		`{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "study.has_high_return_rate", "metadata": {"rate": 0.4}}`,
		`{"resource_id": "abc", "event_type": "participant.created", "x": [1, {"y": null}]}`,
		`{"resource_id": "x", "event_type": "submission.status.change"}`,
		`{"resource_id": 5, "event_type": "study.progress.change"}`,
		`{"event_type": "study.status.change", "event_type": "study.progress.change", "resource_id": "x"}`,
		`{"resource_id": "x", "event_type": "study.status.change", "status": "A", "metadata": "not an object"}`,
		`{"resource_id": "a\u00e9\"b", "event_type": "study.status.change", "status": "A\\B"}`,
		"{\"resource_id\": \"a\xffb\", \"event_type\": \"study.status.change\", \"status\": \"\xe2\x82\"}",
		`[]`, `null`, `"string"`, `{}`, `{"resource_id": "x"`, `{"a":1} trailing`, "\"\xff\"",
		strings.Repeat("[", 20000),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := Decode(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%q) error = %v, want it to wrap ErrMalformed", body, err)
			}
			if v != nil {
				t.Fatalf("Decode(%q) = %#v with error %v, want nil value", body, v, err)
			}
			return
		}
		var ref map[string]any
		if err := json.Unmarshal(body, &ref); err != nil {
			t.Fatalf("Decode(%q) succeeded but json.Unmarshal into a map failed: %v", body, err)
		}
		want := func(key, got string) {
			t.Helper()
			s, ok := ref[key].(string)
			if !ok || s != got {
				t.Fatalf("Decode(%q): %s = %q, want %q as json.Unmarshal into a map gives (%#v)", body, key, got, s, ref[key])
			}
		}
		var resourceID, eventType string
		switch e := v.(type) {
		case *SubmissionStatusChange:
			resourceID, eventType = e.ResourceID, e.EventType
			want("status", e.Status)
			if p, ok := ref["participant_id"]; ok && p != nil {
				want("participant_id", e.ParticipantID)
			}
		case *StudyStatusChange:
			resourceID, eventType = e.ResourceID, e.EventType
			want("status", e.Status)
		case *StudyProgressChange:
			resourceID, eventType = e.ResourceID, e.EventType
		case *StudyHighReturnRate:
			resourceID, eventType = e.ResourceID, e.EventType
		case *Envelope:
			resourceID, eventType = e.ResourceID, e.EventType
			if knownType(eventType) {
				t.Fatalf("Decode(%q) = *Envelope for the known type %q, want its typed form", body, eventType)
			}
		default:
			t.Fatalf("Decode(%q) = %T, want one of the documented types", body, v)
		}
		if resourceID == "" || eventType == "" {
			t.Fatalf("Decode(%q): resource_id %q, event_type %q, want both non-empty", body, resourceID, eventType)
		}
		want("resource_id", resourceID)
		want("event_type", eventType)
	})
}

// TestDecodeKeysAreCaseSensitive: Prolific's fields are lower-case, and a key
// that only case-folds to a field name (as encoding/json's struct decoding
// would accept) is ignored, so Decode agrees with a map-based or Python reader.
func TestDecodeKeysAreCaseSensitive(t *testing.T) {
	for _, body := range []string{
		`{"EVENT_TYPE": "study.progress.change", "Resource_ID": "x"}`,
		`{"event_type": "participant.created", "Event_Type": "study.progress.change", "resource_id": "x"}`,
		`{"event_type": "study.progress.change", "re\u017fource_id": "x"}`,
	} {
		v, err := Decode([]byte(body))
		if err == nil {
			if e, ok := v.(*StudyProgressChange); ok {
				t.Errorf("Decode(%q) = %+v, want the case-folded key ignored", body, e)
			}
		}
	}
}

// knownType reports whether t is one of the documented event types.
func knownType(t string) bool {
	switch t {
	case EventSubmissionStatusChange, EventStudyStatusChange, EventStudyProgressChange, EventStudyHighReturnRate:
		return true
	}
	return false
}

// TestDecodeReadsWhatUnmarshalReads: Decode walks the top-level object
// itself; bodies whose keys and values take some reading decode to what
// json.Unmarshal into a map gives, and every non-object body is refused.
func TestDecodeReadsWhatUnmarshalReads(t *testing.T) {
	for _, tc := range []struct{ body, resourceID, status, participant, metadata string }{
		{body: "{\n\t\"event_type\" : \"submission.status.change\" ,\r\n \"resource_id\":\"s1\", \"status\":\"APPROVED\" }",
			resourceID: "s1", status: "APPROVED"},
		{body: `{"event\u005ftype": "submission.status.change", "resource_id": "s\"2\\", "status": "A\u00e9", "participant_id": null}`,
			resourceID: `s"2\`, status: "Aé"},
		{body: `{"x": {"event_type": "study.progress.change", "y": ["}", "\"]", {"z": [1, 2e3, true, false, null]}]}, "event_type": "submission.status.change", "resource_id": "s3", "status": "RETURNED", "participant_id": "p3"}`,
			resourceID: "s3", status: "RETURNED", participant: "p3"},
		{body: `{"event_type": "study.status.change", "resource_id": "old", "status": "ACTIVE", "metadata": {"a": "}{"}, "resource_id": "st4"}`,
			resourceID: "st4", status: "ACTIVE", metadata: `{"a": "}{"}`},
	} {
		v, err := Decode([]byte(tc.body))
		if err != nil {
			t.Errorf("Decode(%q): %v", tc.body, err)
			continue
		}
		var got struct{ resourceID, status, participant, metadata string }
		switch e := v.(type) {
		case *SubmissionStatusChange:
			got.resourceID, got.status, got.participant = e.ResourceID, e.Status, e.ParticipantID
		case *StudyStatusChange:
			got.resourceID, got.status, got.metadata = e.ResourceID, e.Status, string(e.Metadata)
		default:
			t.Errorf("Decode(%q) = %T", tc.body, v)
			continue
		}
		if want := (struct{ resourceID, status, participant, metadata string }{tc.resourceID, tc.status, tc.participant, tc.metadata}); got != want {
			t.Errorf("Decode(%q) = %+v, want %+v", tc.body, got, want)
		}
	}
	for body, want := range map[string]string{
		` null `: "null", `[{"event_type": "x"}]`: "array", `"{}"`: "string", `true`: "boolean", `-1.5e3`: "number",
		`{"event_type": "x", "resource_id": "y"`: "unexpected end", `{"event_type": "x"} {}`: "after top-level value",
	} {
		_, err := Decode([]byte(body))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%q) error = %v, want ErrMalformed saying %q", body, err, want)
		}
	}
}
