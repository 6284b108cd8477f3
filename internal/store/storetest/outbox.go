package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// testOutputs are the outputs the outbox cases configure: every event, one
// status of study events, and one study.
var testOutputs = []store.Output{
	{Name: "all"},
	{Name: "completed", Filter: store.OutputFilter{EventTypes: []string{studyStatus}, Statuses: []string{"COMPLETED"}}},
	{Name: "study-x", Filter: store.OutputFilter{StudyIDs: []string{"study-x"}}},
}

// outboxStore opens a store with testOutputs and a manual clock at T0.
func outboxStore(t *testing.T, open OpenFunc) (store.Store, *Clock) {
	clock := NewClock(T0)
	return open(t, store.Options{Outputs: testOutputs, Now: clock.Now}), clock
}

func claimOutbox(t *testing.T, s store.Outbox, output, owner string, ordered bool) []store.OutboxItem {
	t.Helper()
	items, err := s.ClaimOutbox(ctx(t), output, owner, 100, lease, ordered)
	if err != nil {
		t.Fatalf("ClaimOutbox(%s, %s): %v", output, owner, err)
	}
	return items
}

// itemEvents returns the event IDs of items, "" for a pruned event.
func itemEvents(items []store.OutboxItem) []string {
	out := []string{}
	for _, it := range items {
		if it.Event == nil {
			out = append(out, "")
			continue
		}
		out = append(out, it.Event.ID)
	}
	return out
}

func itemIDs(items []store.OutboxItem) []int64 {
	var out []int64
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func testOutboxRouting(t *testing.T, open OpenFunc) {
	s, _ := outboxStore(t, open)
	completed := NewEvent(studyStatus, "study-x", "COMPLETED", at(1))
	active := NewEvent(studyStatus, "study-y", "ACTIVE", at(2))
	progress := NewEvent(studyProgress, "study-y", "", at(3))
	// A submission of study-x, learnt from an earlier event, matches the study filter.
	first := NewEvent(submissionEvent, "sub-1", "ACTIVE", at(4))
	first.StudyID = "study-x"
	later := NewEvent(submissionEvent, "sub-1", "AWAITING REVIEW", at(5))
	for _, e := range []*store.Event{completed, active, progress, first, later} {
		mustSave(t, s, e, store.Stored)
	}
	dup := *completed
	mustSave(t, s, &dup, store.Duplicate)

	for _, tc := range []struct {
		output string
		want   []string
	}{
		{"all", []string{completed.ID, active.ID, progress.ID, first.ID, later.ID}},
		{"completed", []string{completed.ID}},
		{"study-x", []string{completed.ID, first.ID, later.ID}},
	} {
		items := claimOutbox(t, s, tc.output, "w", false)
		if d := diff(tc.want, itemEvents(items)); d != "" {
			t.Errorf("ClaimOutbox(%s) events (-want +got):\n%s", tc.output, d)
		}
		for _, it := range items {
			if it.Output != tc.output || it.Attempts != 1 || it.Event == nil || it.Event.Seq != it.EventSeq {
				t.Errorf("ClaimOutbox(%s) item = %+v, want output %s, attempts 1, its event", tc.output, it, tc.output)
			}
		}
	}
	items := claimOutbox(t, s, "study-x", "w2", false)
	if len(items) != 0 {
		t.Errorf("second ClaimOutbox(study-x) while leased = %v, want none", itemEvents(items))
	}
	// The forwarded study is the one resolved when the event was stored.
	ev, err := s.Event(ctx(t), later.ID)
	if err != nil {
		t.Fatalf("Event: %v", err)
	}
	if ev.StudyID != "study-x" {
		t.Errorf("stored StudyID = %q, want study-x", ev.StudyID)
	}
}

func testOutboxOrdered(t *testing.T, open OpenFunc) {
	s, clock := outboxStore(t, open)
	a1 := NewEvent(studyStatus, "study-a", "ACTIVE", at(1))
	b1 := NewEvent(studyStatus, "study-b", "ACTIVE", at(2))
	a2 := NewEvent(studyStatus, "study-a", "COMPLETED", at(3))
	for _, e := range []*store.Event{a1, b1, a2} {
		mustSave(t, s, e, store.Stored)
	}
	items := claimOutbox(t, s, "all", "w1", true)
	if d := diff([]string{a1.ID, b1.ID}, itemEvents(items)); d != "" {
		t.Fatalf("ordered ClaimOutbox (-want +got):\n%s", d)
	}
	if got := claimOutbox(t, s, "all", "w2", true); len(got) != 0 {
		t.Errorf("ordered ClaimOutbox while study-a's head is leased = %v, want none", itemEvents(got))
	}
	// A failed head still holds its key back while it waits for its retry.
	if err := s.RetryOutbox(ctx(t), "w1", []store.OutboxRetry{{ID: items[0].ID, At: clock.Now().Add(time.Minute), Reason: "503"}}); err != nil {
		t.Fatalf("RetryOutbox: %v", err)
	}
	if got := claimOutbox(t, s, "all", "w2", true); len(got) != 0 {
		t.Errorf("ordered ClaimOutbox while study-a's head waits = %v, want none", itemEvents(got))
	}
	if err := s.CompleteOutbox(ctx(t), "w1", itemIDs(items[1:])); err != nil {
		t.Fatalf("CompleteOutbox: %v", err)
	}
	clock.Advance(time.Minute)
	got := claimOutbox(t, s, "all", "w2", true)
	if d := diff([]string{a1.ID}, itemEvents(got)); d != "" {
		t.Fatalf("ordered ClaimOutbox after the retry is due (-want +got):\n%s", d)
	}
	if got[0].Attempts != 2 || got[0].LastError != "503" {
		t.Errorf("retried item attempts, last error = %d, %q, want 2, 503", got[0].Attempts, got[0].LastError)
	}
	if err := s.CompleteOutbox(ctx(t), "w2", itemIDs(got)); err != nil {
		t.Fatalf("CompleteOutbox: %v", err)
	}
	got = claimOutbox(t, s, "all", "w3", true)
	if d := diff([]string{a2.ID}, itemEvents(got)); d != "" {
		t.Errorf("ordered ClaimOutbox after the head was delivered (-want +got):\n%s", d)
	}
	// Unordered, every due row is claimable at once.
	s2, _ := outboxStore(t, open)
	for _, e := range []*store.Event{NewEvent(studyStatus, "study-a", "ACTIVE", at(1)), NewEvent(studyStatus, "study-a", "COMPLETED", at(2))} {
		mustSave(t, s2, e, store.Stored)
	}
	if got := claimOutbox(t, s2, "all", "w", false); len(got) != 2 {
		t.Errorf("unordered ClaimOutbox = %d rows, want 2", len(got))
	}
}

// testOutboxLimit: a claim takes at most the rows asked for, ordered or
// not, however many are due: a worker leases only what it can deliver
// within the lease.
func testOutboxLimit(t *testing.T, open OpenFunc) {
	s, _ := outboxStore(t, open)
	for i := range 12 {
		mustSave(t, s, NewEvent(studyStatus, fmt.Sprintf("study-%d", i), "ACTIVE", at(i)), store.Stored)
	}
	for _, ordered := range []bool{true, false} {
		owner := fmt.Sprintf("w-%t", ordered)
		items, err := s.ClaimOutbox(ctx(t), "all", owner, 5, lease, ordered)
		if err != nil {
			t.Fatalf("ClaimOutbox: %v", err)
		}
		if len(items) != 5 {
			t.Errorf("ClaimOutbox(limit 5, ordered %t) over 12 due rows = %d rows, want 5", ordered, len(items))
		}
		if err := s.CompleteOutbox(ctx(t), owner, itemIDs(items)); err != nil {
			t.Fatalf("CompleteOutbox: %v", err)
		}
	}
	if got := pendingOf(t, s, "all"); got != 2 {
		t.Errorf("pending after two claims of 5 = %d, want 2", got)
	}
}

func testOutboxLease(t *testing.T, open OpenFunc) {
	s, clock := outboxStore(t, open)
	e := NewEvent(studyStatus, "study-a", "ACTIVE", at(1))
	mustSave(t, s, e, store.Stored)
	first := claimOutbox(t, s, "all", "w1", true)
	if len(first) != 1 {
		t.Fatalf("ClaimOutbox = %d rows, want 1", len(first))
	}
	clock.Advance(lease)
	second := claimOutbox(t, s, "all", "w2", true)
	if d := diff([]string{e.ID}, itemEvents(second)); d != "" {
		t.Fatalf("ClaimOutbox after the lease ended (-want +got):\n%s", d)
	}
	// The first owner lost its lease: its completion changes nothing.
	if err := s.CompleteOutbox(ctx(t), "w1", itemIDs(first)); err != nil {
		t.Fatalf("CompleteOutbox by the old owner: %v", err)
	}
	if got := pendingOf(t, s, "all"); got != 1 {
		t.Errorf("pending after the old owner's completion = %d, want 1", got)
	}
	if err := s.CompleteOutbox(ctx(t), "w2", itemIDs(second)); err != nil {
		t.Fatalf("CompleteOutbox: %v", err)
	}
	if got := pendingOf(t, s, "all"); got != 0 {
		t.Errorf("pending after completion = %d, want 0", got)
	}
}

// ReopenFunc returns a function that opens one fresh database each time it
// is called, with opts; the caller closes each store before the next call.
type ReopenFunc func(t *testing.T) func(opts store.Options) store.Store

// RunOutputs runs the cases that reopen one database with other outputs:
// registration, backfill from the beginning, and no replay on restart.
func RunOutputs(t *testing.T, reopen ReopenFunc) {
	t.Run("StartNowOrBeginning", func(t *testing.T) {
		t.Parallel()
		openDB := reopen(t)
		clock := NewClock(T0)
		s := openDB(store.Options{Now: clock.Now})
		old1 := NewEvent(studyStatus, "study-a", "ACTIVE", at(1))
		old2 := NewEvent(studyStatus, "study-b", "COMPLETED", at(2))
		mustSave(t, s, old1, store.Stored)
		mustSave(t, s, old2, store.Stored)
		s.Close()

		outputs := []store.Output{
			{Name: "now"},
			{Name: "history", FromBeginning: true, Filter: store.OutputFilter{Statuses: []string{"COMPLETED"}}},
		}
		s = openDB(store.Options{Now: clock.Now, Outputs: outputs})
		fresh := NewEvent(studyStatus, "study-c", "COMPLETED", at(3))
		mustSave(t, s, fresh, store.Stored)
		if d := diff([]string{fresh.ID}, itemEvents(claimOutbox(t, s, "now", "w", false))); d != "" {
			t.Errorf("start now (-want +got):\n%s", d)
		}
		got := claimOutbox(t, s, "history", "w", false)
		if d := diff([]string{old2.ID, fresh.ID}, itemEvents(got)); d != "" {
			t.Errorf("start from the beginning (-want +got):\n%s", d)
		}
		if err := s.CompleteOutbox(ctx(t), "w", itemIDs(got)); err != nil {
			t.Fatalf("CompleteOutbox: %v", err)
		}
		s.Close()

		// Restarting, even with the output now told to start from the
		// beginning, replays nothing delivered.
		outputs[0].FromBeginning = true
		s = openDB(store.Options{Now: clock.Now, Outputs: outputs})
		defer s.Close()
		clock.Advance(time.Hour)
		if got := claimOutbox(t, s, "history", "w2", false); len(got) != 0 {
			t.Errorf("after a restart, history = %v, want nothing replayed", itemEvents(got))
		}
		if got := claimOutbox(t, s, "now", "w2", false); len(got) != 1 {
			t.Errorf("after a restart, now = %v, want only the one still leased-out row", itemEvents(got))
		}
	})
}
