package loadgen

import (
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/delivery"
	"github.com/prolific-receiver/receiver/internal/prolific"
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

func TestGeneratorMix(t *testing.T) {
	now := time.Unix(1735689600, 0)
	g := newGenerator(50, 7, func() time.Time { now = now.Add(10 * time.Millisecond); return now })
	types := make(map[string]int)
	for range 10000 {
		types[g.Next().Type]++
	}
	tests := []struct {
		typ      string
		min, max int
	}{
		{prolific.EventSubmissionStatusChange, 7000, 8000},
		{prolific.EventStudyProgressChange, 1200, 2000},
		{prolific.EventStudyStatusChange, 500, 1100},
		{prolific.EventStudyHighReturnRate, 20, 300},
	}
	for _, tc := range tests {
		if got := types[tc.typ]; got < tc.min || got > tc.max {
			t.Errorf("%s: %d of 10000, want %d..%d", tc.typ, got, tc.min, tc.max)
		}
	}
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
