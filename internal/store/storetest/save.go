package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

func testSaveReadBack(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	e := NewEvent(submissionEvent, "sub-1", "AWAITING REVIEW", T0.Add(123456*time.Microsecond))
	e.StudyID = "study-given"
	e.ReceivedAt = time.Date(2025, 3, 1, 13, 0, 0, 654321000, time.FixedZone("CET", 3600))
	e.SignatureForm = "python"
	e.Body = append(e.Body, "\n \x00\xff"...) // bytes kept exactly, even invalid UTF-8
	want := *e
	mustSave(t, s, e, store.Stored)
	if e.Seq <= 0 {
		t.Fatalf("Save left Seq = %d, want > 0", e.Seq)
	}
	want.Seq = e.Seq
	want.ReceivedAt = want.ReceivedAt.UTC()
	want.Source = store.SourceWebhook // what an unset Source means
	got, err := s.Event(ctx(t), e.ID)
	if err != nil {
		t.Fatalf("Event(%q): %v", e.ID, err)
	}
	if d := diff(&want, got); d != "" {
		t.Errorf("Event(%q) mismatch (-want +got):\n%s", e.ID, d)
	}
	if got.EventTime.Location() != time.UTC || got.ReceivedAt.Location() != time.UTC {
		t.Errorf("times in %v and %v, want UTC", got.EventTime.Location(), got.ReceivedAt.Location())
	}

	e2 := NewEvent(studyStatus, "study-1", "ACTIVE", T0)
	mustSave(t, s, e2, store.Stored)
	if e2.Seq <= e.Seq {
		t.Errorf("second Seq = %d, want > first %d", e2.Seq, e.Seq)
	}
	if e2.StudyID != "study-1" {
		t.Errorf("study event StudyID after Save = %q, want its resource %q", e2.StudyID, "study-1")
	}
}

func testNotFound(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	if _, err := s.Event(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Event(nope) error = %v, want %v", err, store.ErrNotFound)
	}
	if _, err := s.Study(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Study(nope) error = %v, want %v", err, store.ErrNotFound)
	}
	if _, err := s.Submission(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Submission(nope) error = %v, want %v", err, store.ErrNotFound)
	}
	evs := mustEvents(t, s, store.EventFilter{})
	if len(evs) != 0 {
		t.Errorf("Events on an empty store = %d events, want 0", len(evs))
	}
}

func testDuplicateID(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	first := NewEvent(studyStatus, "study-1", "ACTIVE", at(0))
	mustSave(t, s, first, store.Stored)
	again := *first
	again.Seq = 0
	mustSave(t, s, &again, store.Duplicate)

	// Same X-Event-ID, different content and a newer status: still a duplicate, nothing applied.
	replay := NewEvent(studyStatus, "study-1", "COMPLETED", at(10))
	replay.ID = first.ID
	mustSave(t, s, replay, store.Duplicate)
	if replay.Seq != 0 {
		t.Errorf("duplicate got Seq %d, want 0", replay.Seq)
	}
	if got := mustStudy(t, s, "study-1"); got.Status != "ACTIVE" || !got.StatusAt.Equal(at(0)) {
		t.Errorf("study after duplicate = %q at %v, want ACTIVE at %v", got.Status, got.StatusAt, at(0))
	}
	if evs := mustEvents(t, s, store.EventFilter{}); len(evs) != 1 {
		t.Errorf("Events = %v, want only %q", ids(evs), first.ID)
	}
}

func testDuplicateContent(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	first := NewEvent(submissionEvent, "sub-1", "ACTIVE", at(0))
	mustSave(t, s, first, store.Stored)
	// A replay of the signed request with a new unsigned X-Event-ID and X-Timestamp.
	replay := *first
	replay.Seq = 0
	replay.ID = first.ID + "-replayed"
	replay.EventTime = at(100)
	replay.Status = "APPROVED"
	mustSave(t, s, &replay, store.Duplicate)
	got := mustSubmission(t, s, "sub-1")
	if got.Status != "ACTIVE" || !got.StatusAt.Equal(at(0)) {
		t.Errorf("submission after replay = %q at %v, want ACTIVE at %v", got.Status, got.StatusAt, at(0))
	}
	// The replayed ID is kept as an alias: Event finds the stored event.
	mustResolve(t, s, replay.ID, first)
	if evs := mustEvents(t, s, store.EventFilter{}); len(evs) != 1 {
		t.Errorf("Events = %v, want only %q", ids(evs), first.ID)
	}
}

func testDuplicateInOneBatch(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	const n = 20
	orig := NewEvent(studyHighReturn, "study-1", "", at(0))
	// Same ID, and separately same content hash: concurrent Saves likely share a batch.
	events := make([]*store.Event, 0, 2*n)
	for i := range n {
		byID := *orig
		byID.ContentHash = fmt.Sprintf("%s-%d", orig.ContentHash, i)
		events = append(events, &byID)
	}
	other := NewEvent(studyHighReturn, "study-1", "", at(1))
	for i := range n {
		byHash := *other
		byHash.ID = fmt.Sprintf("%s-%d", other.ID, i)
		events = append(events, &byHash)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	outcomes := make([]store.Outcome, len(events))
	errs := make([]error, len(events))
	for i, e := range events {
		wg.Go(func() {
			<-start
			outcomes[i], errs[i] = s.Save(ctx(t), e)
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Save: %v", err)
	}
	for half, name := range []string{"same ID", "same content"} {
		stored := 0
		for _, o := range outcomes[half*n : (half+1)*n] {
			if o == store.Stored {
				stored++
			} else if o != store.Duplicate {
				t.Errorf("%s: outcome %v, want stored or duplicate", name, o)
			}
		}
		if stored != 1 {
			t.Errorf("%s: %d of %d saves stored, want exactly 1", name, stored, n)
		}
	}
	if got := mustStudy(t, s, "study-1").HighReturnRateEvents; got != 2 {
		t.Errorf("HighReturnRateEvents = %d, want 2 (duplicates not counted)", got)
	}
	if evs := mustEvents(t, s, store.EventFilter{}); len(evs) != 2 {
		t.Errorf("stored %d events, want 2", len(evs))
	}
	// Every ID of the same-content half resolves to the one stored event.
	var kept *store.Event
	for i, e := range events[n:] {
		if outcomes[n+i] == store.Stored {
			kept = e
		}
	}
	if kept != nil {
		for _, e := range events[n:] {
			mustResolve(t, s, e.ID, kept)
		}
	}
}

func testUnknownType(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{Enrich: true})
	e := NewEvent("study.something.new", "study-x", "", at(0))
	e.Body = []byte(`{"event_type":"study.something.new","resource_id":"study-x","extra":1}`)
	mustSave(t, s, e, store.Stored)
	got, err := s.Event(ctx(t), e.ID)
	if err != nil {
		t.Fatalf("Event: %v", err)
	}
	if string(got.Body) != string(e.Body) || got.Type != e.Type {
		t.Errorf("Event = %s %s, want %s %s", got.Type, got.Body, e.Type, e.Body)
	}
	if _, err := s.Study(ctx(t), "study-x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Study after unknown event: error %v, want %v (no projection)", err, store.ErrNotFound)
	}
	if st, err := s.QueueStats(ctx(t)); err != nil || st.Depth != 0 {
		t.Errorf("QueueStats = %+v, %v; want depth 0 (no enrichment for unknown types)", st, err)
	}
}
