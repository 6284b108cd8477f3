package outputs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/prolific-receiver/receiver/internal/store"
)

// testSecret is a valid Standard Webhooks secret (32 zero-to-31 bytes).
const testSecret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const goodFile = `outputs:
  - name: lab-app
    type: http
    start: beginning
    filter:
      event_types: [submission.status.change]
      statuses: [AWAITING REVIEW]
    http:
      url: ${FORWARD_URL}/hooks
      secret: ${FORWARD_SECRET}
      timeout: 3s
  - name: bus
    type: nats
    ordered: false
    max_age: 24h
    filter:
      event_types: ["*"]
    nats:
      url: nats://127.0.0.1:4222
      subject: prolific.{event_type}.{study_id}
      stream: PROLIFIC
`

func TestParse(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	outs, err := Parse([]byte(goodFile), env(map[string]string{"FORWARD_URL": "https://lab.example", "FORWARD_SECRET_FILE": secretFile}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(outs) != 2 {
		t.Fatalf("Parse = %d outputs, want 2", len(outs))
	}
	h, n := outs[0], outs[1]
	if h.Name != "lab-app" || h.Type != "http" || !h.FromBeginning || !h.Ordered || h.MaxAge != DefaultMaxAge ||
		h.HTTP.URL != "https://lab.example/hooks" || h.HTTP.Timeout != 3*time.Second || len(h.HTTP.Key) != 32 {
		t.Errorf("http output = %+v", h)
	}
	wantFilter := store.OutputFilter{EventTypes: []string{"submission.status.change"}, Statuses: []string{"AWAITING REVIEW"}}
	if d := cmp.Diff(wantFilter, h.Filter); d != "" {
		t.Errorf("http filter (-want +got):\n%s", d)
	}
	if n.FromBeginning || n.Ordered || n.MaxAge != 24*time.Hour || n.Filter.EventTypes != nil ||
		n.NATS.Stream != "PROLIFIC" || n.NATS.Timeout != DefaultNATSTimeout {
		t.Errorf("nats output = %+v", n)
	}
	if d := cmp.Diff([]string{"prolific.>"}, n.NATS.StreamSubjects); d != "" {
		t.Errorf("stream subjects (-want +got):\n%s", d)
	}
	if got := StoreOutputs(outs); got[0].Name != "lab-app" || !got[0].FromBeginning || got[1].Name != "bus" {
		t.Errorf("StoreOutputs = %+v", got)
	}
}

func TestParseErrors(t *testing.T) {
	vars := env(map[string]string{"FORWARD_URL": "https://lab.example", "FORWARD_SECRET": testSecret, "BAD": "whsec_not-base64!"})
	tests := []struct {
		name, file string
		want       []string // each must appear in the error
	}{
		{"unknown field", "outputs:\n  - name: a\n    type: http\n    colour: red\n", []string{"4", "colour"}},
		{"no outputs", "outputs: []\n", []string{"line 1", "no output"}},
		{"unset variable", "outputs:\n  - name: a\n    type: http\n    filter: {event_types: [\"*\"]}\n    http:\n      url: ${FORWARD_URL}\n      secret: ${MISSING}\n",
			[]string{"line 7", "http.secret", "${MISSING} is not set"}},
		{"bad secret", "outputs:\n  - name: a\n    type: http\n    filter: {event_types: [\"*\"]}\n    http:\n      url: ${FORWARD_URL}\n      secret: ${BAD}\n",
			[]string{"line 7", "http.secret", "not valid base64"}},
		{"bad type and name", "outputs:\n  - name: a b\n    type: kafka\n    filter: {event_types: [\"*\"]}\n",
			[]string{"line 2: name", "line 3: type", `"kafka" must be http or nats`}},
		{"no event types", "outputs:\n  - name: a\n    type: nats\n    nats: {url: nats://x, subject: p.x}\n", []string{"line 2", "filter.event_types"}},
		{"duplicate name", "outputs:\n  - name: a\n    type: nats\n    filter: {event_types: [\"*\"]}\n    nats: {url: nats://x, subject: p.x}\n  - name: a\n    type: nats\n    filter: {event_types: [\"*\"]}\n    nats: {url: nats://x, subject: p.x}\n",
			[]string{"line 6", "used by an earlier output"}},
		{"bad start and age", "outputs:\n  - name: a\n    type: nats\n    start: yesterday\n    max_age: forever\n    filter: {event_types: [\"*\"]}\n    nats: {url: nats://x, subject: p.x}\n",
			[]string{"line 4: start", "line 5: max_age"}},
		{"bad subject", "outputs:\n  - name: a\n    type: nats\n    filter: {event_types: [\"*\"]}\n    nats:\n      url: nats://x\n      subject: p.{study}\n",
			[]string{"line 7", "unknown placeholder {study}"}},
		{"http without block", "outputs:\n  - name: a\n    type: http\n    filter: {event_types: [\"*\"]}\n", []string{"line 2", "needs an http block"}},
		{"not http url", "outputs:\n  - name: a\n    type: http\n    filter: {event_types: [\"*\"]}\n    http: {url: ftp://x, secret: \"${FORWARD_SECRET}\"}\n", []string{"line 5", "http.url"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file), vars)
			if err == nil {
				t.Fatalf("Parse = nil error, want one with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error = %q, want it to contain %q", err, w)
				}
			}
			for _, secret := range []string{testSecret, "not-base64!", "AAECAwQF"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("Parse error %q holds the secret", err)
				}
			}
		})
	}
}

func TestExpand(t *testing.T) {
	got, err := Expand("a${X}b${Y}", env(map[string]string{"X": "1", "Y": "2"}))
	if err != nil || got != "a1b2" {
		t.Errorf("Expand = %q, %v, want a1b2", got, err)
	}
	if _, err := Expand("${NOPE}", env(nil)); err == nil || !strings.Contains(err.Error(), "NOPE_FILE") {
		t.Errorf("Expand(unset) = %v, want an error naming NOPE and NOPE_FILE", err)
	}
	if got, err := Expand("$X {X} $", env(nil)); err != nil || got != "$X {X} $" {
		t.Errorf("Expand(no placeholder) = %q, %v, want unchanged", got, err)
	}
}

func TestSubject(t *testing.T) {
	s, err := ParseSubject("prolific.{event_type}.{study_id}.{status}")
	if err != nil {
		t.Fatal(err)
	}
	m := Message{EventType: "submission.status.change", StudyID: "", Status: "AWAITING REVIEW"}
	if got, want := s.Render(m), "prolific.submission.status.change.unknown.AWAITING_REVIEW"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	m.StudyID = "a.b*c>"
	if got, want := s.Render(m), "prolific.submission.status.change.a_b_c_.AWAITING_REVIEW"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	if got := s.Wildcard(); got != "prolific.>" {
		t.Errorf("Wildcard = %q, want prolific.>", got)
	}
	for _, bad := range []string{"", "a.*", "a..{study_id}", "a b"} {
		if _, err := ParseSubject(bad); err == nil {
			t.Errorf("ParseSubject(%q) = nil error, want one", bad)
		}
	}
}
