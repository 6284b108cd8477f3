package loadgen

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/delivery"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/verify"
)

func TestGeneratorUniqueWithinOneSecond(t *testing.T) {
	// A frozen clock puts every event in the same second: no two may share
	// a body, or the receiver would treat them as the same signed content.
	frozen := time.Unix(1735689600, 0)
	g := newGenerator(5, 42, func() time.Time { return frozen })
	const n = 5000
	bodies := make(map[string]bool, n)
	ids := make(map[string]bool, n)
	types := make(map[string]int)
	for range n {
		ev := g.Next()
		if bodies[string(ev.Body)] {
			t.Fatalf("body repeated within one second: %s", ev.Body)
		}
		bodies[string(ev.Body)] = true
		if ids[ev.ID] || len(ev.ID) != 24 {
			t.Fatalf("event ID %q repeated or not 24 hex", ev.ID)
		}
		ids[ev.ID] = true
		if ev.EventTime != frozen.Unix() {
			t.Fatalf("EventTime = %d, want %d", ev.EventTime, frozen.Unix())
		}
		v, err := prolific.Decode(ev.Body)
		if err != nil {
			t.Fatalf("Decode(%s): %v", ev.Body, err)
		}
		if _, unknown := v.(*prolific.Envelope); unknown {
			t.Fatalf("Decode(%s) gave an unknown type", ev.Body)
		}
		types[ev.Type]++
	}
	if types[prolific.EventSubmissionStatusChange] < n/2 {
		t.Errorf("types = %v, want mostly submission.status.change", types)
	}
}

// TestGeneratorTrafficShape checks the traffic make bench sends against
// the shape of Prolific's (issue 24): at the pre-signed requests' pace, about
// 78 % submission events, 19 % progress pings and 3 % study status changes
// over 50 studies; each submission created once and then changing status one
// to three times; event IDs that are ObjectIds rising with time; bodies as
// Python's json.dumps writes them.
func TestGeneratorTrafficShape(t *testing.T) {
	now := time.Unix(1735689600, 0)
	g := newGenerator(50, 7, func() time.Time { now = now.Add(presignStep); return now })
	const n = 40000
	types := make(map[string]int)
	studies := make(map[string]bool)
	lifecycles := make(map[string][]string) // submission ID -> its statuses in order
	prev := ""
	for range n {
		ev := g.Next()
		types[ev.Type]++
		if ev.ID <= prev {
			t.Fatalf("event ID %s after %s: want rising ObjectIds", ev.ID, prev)
		}
		prev = ev.ID
		if py, err := verify.PythonDumps(ev.Body); err != nil || string(py) != string(ev.Body) {
			t.Fatalf("body %s is not as json.dumps writes it (%s, %v)", ev.Body, py, err)
		}
		f, err := prolific.Read(ev.Body)
		if err != nil {
			t.Fatalf("Read(%s): %v", ev.Body, err)
		}
		if ev.Type == prolific.EventSubmissionStatusChange {
			lifecycles[f.ResourceID] = append(lifecycles[f.ResourceID], f.Status)
		} else {
			studies[f.ResourceID] = true
		}
	}
	for typ, want := range map[string]float64{
		prolific.EventSubmissionStatusChange: 78,
		prolific.EventStudyProgressChange:    19,
		prolific.EventStudyStatusChange:      3,
	} {
		if got := 100 * float64(types[typ]) / n; got < want-1.5 || got > want+1.5 {
			t.Errorf("%s: %.1f %% of the events, want %.0f ± 1.5 %% (%v)", typ, got, want, types)
		}
	}
	if len(types) != 3 {
		t.Errorf("event types %v, want only the three of the shape", types)
	}
	if len(studies) != 50 {
		t.Errorf("study events for %d studies, want 50", len(studies))
	}
	finished := 0
	for id, statuses := range lifecycles {
		if statuses[0] != "RESERVED" || slices.Index(statuses[1:], "RESERVED") >= 0 {
			t.Fatalf("submission %s: statuses %v, want it created (RESERVED) once, first", id, statuses)
		}
		if len(statuses) > 4 {
			t.Fatalf("submission %s: %d status changes after its creation, want at most 3", id, len(statuses)-1)
		}
		if final(statuses[len(statuses)-1]) {
			finished++
			if len(statuses) < 2 {
				t.Fatalf("submission %s ended without a change: %v", id, statuses)
			}
		}
	}
	if finished < len(lifecycles)/2 {
		t.Errorf("%d of %d submissions reached a final status, want most", finished, len(lifecycles))
	}
}

// final reports whether a submission status ends its lifecycle.
func final(status string) bool {
	switch status {
	case "RESERVED", "ACTIVE", "AWAITING REVIEW":
		return false
	}
	return true
}

// TestStudyStatusBody pins the Python-style body the generator sends for a
// study status change (built by internal/delivery).
func TestStudyStatusBody(t *testing.T) {
	got := string(delivery.Sample("study.status.change", "abc", "AWAITING REVIEW", ""))
	want := `{"resource_id": "abc", "event_type": "study.status.change", "metadata": {}, "status": "AWAITING REVIEW"}`
	if got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
}

func TestGeneratorResendNeverSharesContent(t *testing.T) {
	// A re-sent event and a new event must never go out in the same second
	// with the same body: the receiver would take them for one event.
	now := time.Unix(1735689600, 0)
	g := newGenerator(2, 3, func() time.Time { return now })
	var old Event
	for old.Type != prolific.EventStudyProgressChange {
		old = g.Next()
	}
	now = now.Add(time.Second)
	ts, ok := g.Resend(old)
	if !ok || ts != now.Unix() {
		t.Fatalf("Resend in a fresh second = %d, %v, want %d, true", ts, ok, now.Unix())
	}
	for range 2000 {
		if ev := g.Next(); string(ev.Body) == string(old.Body) {
			t.Fatalf("new event %s reuses the body of re-sent event %s in the same second", ev.ID, old.ID)
		}
	}
	if _, ok := g.Resend(old); !ok {
		t.Error("second Resend of the same event = false, want true (same ID is fine)")
	}
	now = now.Add(time.Second)
	var taken Event
	for taken.Type != prolific.EventStudyProgressChange || taken.ID == old.ID {
		taken = g.Next()
	}
	twin := Event{ID: "another", Type: taken.Type, Body: taken.Body}
	if _, ok := g.Resend(twin); ok {
		t.Errorf("Resend of an event whose body %s is already used this second = true, want false", taken.Body)
	}
}

func TestGeneratorEventIDsAreObjectIDs(t *testing.T) {
	at := time.Unix(1735689600, 0)
	g := newGenerator(5, 7, func() time.Time { return at })
	other := newGenerator(5, 8, func() time.Time { return at })
	prev := ""
	for range 100 {
		id := g.Next().ID
		if len(id) != 24 || !strings.HasPrefix(id, "67748580") { // 1735689600 in hex
			t.Fatalf("event ID %q: want 24 hex digits starting with the time", id)
		}
		if id <= prev {
			t.Fatalf("event IDs of one generator in one second do not ascend: %q after %q", id, prev)
		}
		prev = id
	}
	if a, b := g.Next().ID, other.Next().ID; a[8:18] == b[8:18] {
		t.Fatalf("two generators share the per-process bytes: %q and %q", a, b)
	}
}
