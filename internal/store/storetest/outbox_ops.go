package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// The operators' side of the outbox: dead letters, pause and resume,
// retries, and rows whose event was pruned.

// OutputState returns the state of output in s, failing t when s does
// not list it.
func OutputState(t *testing.T, s store.Outbox, output string) store.OutputState {
	t.Helper()
	states, err := s.OutputStates(ctx(t))
	if err != nil {
		t.Fatalf("OutputStates: %v", err)
	}
	for _, st := range states {
		if st.Name == output {
			return st
		}
	}
	t.Fatalf("OutputStates has no %q: %+v", output, states)
	return store.OutputState{}
}

func pendingOf(t *testing.T, s store.Outbox, output string) int {
	t.Helper()
	return OutputState(t, s, output).Pending
}

func testOutboxDeadLetters(t *testing.T, open OpenFunc) {
	s, clock := outboxStore(t, open)
	e1 := NewEvent(studyStatus, "study-a", "ACTIVE", at(1))
	e2 := NewEvent(studyStatus, "study-a", "COMPLETED", at(2))
	mustSave(t, s, e1, store.Stored)
	mustSave(t, s, e2, store.Stored)
	items := claimOutbox(t, s, "all", "w", true)
	if err := s.DeadLetterOutbox(ctx(t), "w", items[0].ID, "500 for 72h"); err != nil {
		t.Fatalf("DeadLetterOutbox: %v", err)
	}
	// A dead letter does not hold its key back.
	next := claimOutbox(t, s, "all", "w", true)
	if d := diff([]string{e2.ID}, itemEvents(next)); d != "" {
		t.Errorf("ordered ClaimOutbox after a dead letter (-want +got):\n%s", d)
	}
	if err := s.RetryOutbox(ctx(t), "w", []store.OutboxRetry{{ID: next[0].ID, At: clock.Now().Add(time.Hour), Reason: "timeout"}}); err != nil {
		t.Fatalf("RetryOutbox: %v", err)
	}
	st := OutputState(t, s, "all")
	if st.Pending != 1 || st.DeadLetters != 1 || !st.OldestPending.Equal(T0) {
		t.Errorf("state = %+v, want 1 pending since T0, 1 dead letter", st)
	}
	dead, err := s.DeadLetters(ctx(t), "all", 0, 10)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	if d := diff([]string{e1.ID}, itemEvents(dead)); d != "" {
		t.Fatalf("DeadLetters (-want +got):\n%s", d)
	}
	if dead[0].LastError != "500 for 72h" || !dead[0].DeadAt.Equal(T0) || dead[0].Event.Body == nil {
		t.Errorf("dead letter = %+v, want its reason, DeadAt T0 and its event", dead[0])
	}
	if more, err := s.DeadLetters(ctx(t), "all", dead[0].ID, 10); err != nil || len(more) != 0 {
		t.Errorf("DeadLetters after the last = %v, %v, want none", itemEvents(more), err)
	}

	// retry NAME: the waiting row is due now.
	if n, err := s.RetryOutput(ctx(t), "all", false); err != nil || n != 1 {
		t.Errorf("RetryOutput(pending) = %d, %v, want 1", n, err)
	}
	retried := claimOutbox(t, s, "all", "w", false)
	if len(retried) != 1 || retried[0].Event.ID != e2.ID {
		t.Fatalf("ClaimOutbox after RetryOutput = %v, want %s", itemEvents(retried), e2.ID)
	}
	if err := s.CompleteOutbox(ctx(t), "w", itemIDs(retried)); err != nil {
		t.Fatalf("CompleteOutbox: %v", err)
	}
	// retry NAME --dead-letters: pending again, attempts and age afresh.
	clock.Advance(time.Hour)
	if n, err := s.RetryOutput(ctx(t), "all", true); err != nil || n != 1 {
		t.Errorf("RetryOutput(dead letters) = %d, %v, want 1", n, err)
	}
	got := claimOutbox(t, s, "all", "w2", false)
	if d := diff([]string{e1.ID}, itemEvents(got)); d != "" {
		t.Fatalf("ClaimOutbox after retrying the dead letters (-want +got):\n%s", d)
	}
	if got[0].Attempts != 1 || !got[0].AgeFrom.Equal(T0.Add(time.Hour)) || !got[0].DeadAt.IsZero() {
		t.Errorf("retried dead letter = %+v, want attempts 1, AgeFrom T0+1h, not dead", got[0])
	}
	if st := OutputState(t, s, "all"); st.DeadLetters != 0 {
		t.Errorf("dead letters after retry = %d, want 0", st.DeadLetters)
	}
}

func testOutboxPause(t *testing.T, open OpenFunc) {
	s, _ := outboxStore(t, open)
	mustSave(t, s, NewEvent(studyStatus, "study-a", "ACTIVE", at(1)), store.Stored)
	if err := s.SetOutputPaused(ctx(t), "all", true); err != nil {
		t.Fatalf("SetOutputPaused: %v", err)
	}
	if got := claimOutbox(t, s, "all", "w", true); len(got) != 0 {
		t.Errorf("ClaimOutbox while paused = %v, want none", itemEvents(got))
	}
	if st := OutputState(t, s, "all"); !st.Paused {
		t.Errorf("state = %+v, want paused", st)
	}
	if err := s.SetOutputPaused(ctx(t), "all", false); err != nil {
		t.Fatalf("SetOutputPaused(false): %v", err)
	}
	items := claimOutbox(t, s, "all", "w", true)
	if len(items) != 1 {
		t.Fatalf("ClaimOutbox after resume = %d rows, want 1", len(items))
	}
	if err := s.DisableOutput(ctx(t), "all", "410 Gone"); err != nil {
		t.Fatalf("DisableOutput: %v", err)
	}
	if err := s.RetryOutbox(ctx(t), "w", []store.OutboxRetry{{ID: items[0].ID, At: T0, Reason: "410 Gone"}}); err != nil {
		t.Fatalf("RetryOutbox: %v", err)
	}
	if got := claimOutbox(t, s, "all", "w", true); len(got) != 0 {
		t.Errorf("ClaimOutbox while disabled = %v, want none", itemEvents(got))
	}
	if st := OutputState(t, s, "all"); st.Disabled != "410 Gone" || st.Pending != 1 {
		t.Errorf("state = %+v, want disabled by 410 Gone, 1 pending", st)
	}
	if err := s.SetOutputPaused(ctx(t), "all", false); err != nil {
		t.Fatalf("SetOutputPaused(false): %v", err)
	}
	if got := claimOutbox(t, s, "all", "w", true); len(got) != 1 {
		t.Errorf("ClaimOutbox after resuming a disabled output = %d rows, want 1", len(got))
	}
	if err := s.SetOutputPaused(ctx(t), "nope", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetOutputPaused(unknown) = %v, want ErrNotFound", err)
	}
	if got := claimOutbox(t, s, "completed", "w", true); len(got) != 0 {
		t.Errorf("ClaimOutbox(completed) = %v, want none (ACTIVE does not pass)", itemEvents(got))
	}
}

func testOutboxPruned(t *testing.T, open OpenFunc) {
	s, _ := outboxStore(t, open)
	e := NewEvent(studyStatus, "study-a", "ACTIVE", at(1))
	mustSave(t, s, e, store.Stored)
	if n := prune(t, s, e.ReceivedAt.Add(time.Second), 10); n != 1 {
		t.Fatalf("PruneEvents = %d, want 1", n)
	}
	got := claimOutbox(t, s, "all", "w", true)
	if len(got) != 1 || got[0].Event != nil {
		t.Errorf("ClaimOutbox of a pruned event = %+v, want one row without its event", got)
	}
}

func testOutboxRetryBatch(t *testing.T, open OpenFunc) {
	s, clock := outboxStore(t, open)
	e1 := NewEvent(studyStatus, "study-a", "ACTIVE", at(1))
	e2 := NewEvent(studyStatus, "study-b", "ACTIVE", at(2))
	mustSave(t, s, e1, store.Stored)
	mustSave(t, s, e2, store.Stored)
	items := claimOutbox(t, s, "all", "w", false)
	if len(items) != 2 {
		t.Fatalf("ClaimOutbox = %d rows, want 2", len(items))
	}
	if err := s.RetryOutbox(ctx(t), "w", []store.OutboxRetry{
		{ID: items[0].ID, At: T0.Add(time.Minute), Reason: "first"},
		{ID: items[1].ID, At: T0.Add(2 * time.Minute), Reason: "second"},
	}); err != nil {
		t.Fatalf("RetryOutbox: %v", err)
	}
	clock.Advance(time.Minute)
	got := claimOutbox(t, s, "all", "w", false)
	if d := diff([]string{e1.ID}, itemEvents(got)); d != "" || got[0].LastError != "first" {
		t.Errorf("due after 1m (-want +got):\n%s (last error %q)", d, got[0].LastError)
	}
	if err := s.CompleteOutbox(ctx(t), "w", itemIDs(got)); err != nil {
		t.Fatalf("CompleteOutbox: %v", err)
	}
	clock.Advance(time.Minute)
	got = claimOutbox(t, s, "all", "w2", false)
	if d := diff([]string{e2.ID}, itemEvents(got)); d != "" {
		t.Errorf("due after 2m (-want +got):\n%s", d)
	}
}
