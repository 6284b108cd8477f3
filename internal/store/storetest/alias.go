package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// sameContent returns a distinct delivery (new X-Event-ID, X-Timestamp sec)
// whose signed content equals e's, as two study.progress.change events for
// one study in one second have.
func sameContent(e *store.Event, id string, sec int) *store.Event {
	d := *e
	d.Seq = 0
	d.ID = id
	d.EventTime = at(sec)
	d.ReceivedAt = at(sec).Add(time.Second)
	return &d
}

// mustResolve fails unless Event(id) returns the stored event want.
func mustResolve(t *testing.T, s store.Store, id string, want *store.Event) {
	t.Helper()
	got, err := s.Event(ctx(t), id)
	if err != nil {
		t.Fatalf("Event(%q): %v, want event %q", id, err, want.ID)
	}
	if got.ID != want.ID || got.Seq != want.Seq {
		t.Errorf("Event(%q) = %q (seq %d), want %q (seq %d)", id, got.ID, got.Seq, want.ID, want.Seq)
	}
}

func testAliasSameContent(t *testing.T, open OpenFunc) {
	s, clock := enrichStore(t, open)
	first := NewEvent(studyProgress, "study-1", "", at(0))
	first.Body = []byte(`{"resource_id": "study-1", "event_type": "study.progress.change"}`)
	mustSave(t, s, first, store.Stored)
	clock.Advance(debounce)
	jobs := claim(t, s, "w", 10)
	if len(jobs) != 1 {
		t.Fatalf("claimed %v, want the study's refresh", jobKeys(jobs))
	}
	before := mustStudy(t, s, "study-1")

	clock.Advance(time.Minute)
	second := sameContent(first, first.ID+"-second", 5)
	mustSave(t, s, second, store.Duplicate)
	if second.Seq != 0 {
		t.Errorf("aliased delivery got Seq %d, want 0", second.Seq)
	}
	mustResolve(t, s, second.ID, first)
	mustResolve(t, s, first.ID, first)
	if got := ids(mustEvents(t, s, store.EventFilter{})); diff([]string{first.ID}, got) != "" {
		t.Errorf("Events = %v, want only %q (aliases are not listed)", got, first.ID)
	}
	if d := diff(before, mustStudy(t, s, "study-1")); d != "" {
		t.Errorf("study changed by an aliased delivery (-before +after):\n%s", d)
	}
	// Had the alias queued work, the leased job would now be re-armed.
	complete(t, s, "w", jobs[0])
	if n := queueDepth(t, s); n != 0 {
		t.Errorf("queue depth = %d, want 0 (an alias queues no job)", n)
	}
}

func testAliasCap(t *testing.T, open OpenFunc) {
	const maxAliases = 3
	s := open(t, store.Options{MaxAliases: maxAliases})
	first := NewEvent(studyProgress, "study-1", "", at(0))
	mustSave(t, s, first, store.Stored)
	other := NewEvent(studyProgress, "study-2", "", at(0))
	mustSave(t, s, other, store.Stored)

	alias := func(i int) string { return fmt.Sprintf("%s-alias-%d", first.ID, i) }
	mustSave(t, s, sameContent(first, alias(1), 1), store.Duplicate)
	// The same alias again, once as sent and once as a retry with a new
	// request timestamp (new content): duplicates that take no slot.
	mustSave(t, s, sameContent(first, alias(1), 1), store.Duplicate)
	retry := NewEvent(studyProgress, "study-1", "", at(1))
	retry.ID = alias(1)
	mustSave(t, s, retry, store.Duplicate)
	for i := 2; i <= maxAliases+1; i++ {
		mustSave(t, s, sameContent(first, alias(i), i), store.Duplicate)
	}
	for i := 1; i <= maxAliases; i++ {
		mustResolve(t, s, alias(i), first)
	}
	over := alias(maxAliases + 1)
	if got, err := s.Event(ctx(t), over); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Event(%q) beyond the cap of %d = %v, %v; want %v", over, maxAliases, got, err, store.ErrNotFound)
	}
	// The cap is per stored event.
	mustSave(t, s, sameContent(other, other.ID+"-alias", 1), store.Duplicate)
	mustResolve(t, s, other.ID+"-alias", other)
	if got := len(mustEvents(t, s, store.EventFilter{})); got != 2 {
		t.Errorf("stored %d events, want 2", got)
	}
}

func testAliasConcurrent(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	const n = 20
	orig := NewEvent(studyHighReturn, "study-1", "", at(0))
	events := make([]*store.Event, n)
	for i := range events {
		events[i] = sameContent(orig, fmt.Sprintf("%s-%d", orig.ID, i), 0)
	}
	outcomes := saveAll(t, s, events, n)
	var stored *store.Event
	for i, o := range outcomes {
		switch {
		case o == store.Stored && stored == nil:
			stored = events[i]
		case o == store.Duplicate:
		default:
			t.Fatalf("Save #%d = %v; outcomes %v, want one stored and %d duplicates", i, o, outcomes, n-1)
		}
	}
	if stored == nil {
		t.Fatalf("outcomes %v, want one stored", outcomes)
	}
	for _, e := range events {
		mustResolve(t, s, e.ID, stored)
	}
	if got := len(mustEvents(t, s, store.EventFilter{})); got != 1 {
		t.Errorf("stored %d events, want 1", got)
	}
	if got := mustStudy(t, s, "study-1").HighReturnRateEvents; got != 1 {
		t.Errorf("HighReturnRateEvents = %d, want 1", got)
	}
}
