package prolifictest

import "testing"

func TestEncodePython(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"documented submission event", Object{
			F("resource_id", "6650a1b2c3d4e5f601234567"), F("event_type", "submission.status.change"),
			F("participant_id", "5f1e2d3c4b5a69788796a5b4"), F("status", "AWAITING REVIEW"),
		}, `{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "submission.status.change", "participant_id": "5f1e2d3c4b5a69788796a5b4", "status": "AWAITING REVIEW"}`},
		{"non-ASCII", Object{F("note", "café")}, `{"note": "caf\u00e9"}`},
		{"astral plane", "😀", `"\ud83d\ude00"`},
		{"escapes", "a\"b\\c\n\r\t\b\f\x01\x7f</>&", `"a\"b\\c\n\r\t\b\f\u0001\u007f</>&"`},
		{"empty object", Object{}, `{}`},
		{"nested and list", Object{F("metadata", Object{F("k", []any{1, true, nil, "x"})})}, `{"metadata": {"k": [1, true, null, "x"]}}`},
		{"empty list", []string{}, `[]`},
		{"map sorted", map[string]int{"b": 2, "a": 1}, `{"a": 1, "b": 2}`},
		{"floats", []float64{1, 0.5, 1e16, 1.5e-05}, `[1.0, 0.5, 1e+16, 1.5e-05]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EncodePython(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("EncodePython = %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := EncodePython(struct{}{}); err == nil {
		t.Error("EncodePython(struct{}{}) succeeded, want an error")
	}
}
