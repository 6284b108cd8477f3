package storetest

import (
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// testSourceStored: every event keeps its source; an unset one reads back
// as a webhook, in Event and in Events alike.
func testSourceStored(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	want := map[string]string{}
	for _, src := range []string{"", store.SourceWebhook, store.SourceAPI, store.SourceReconcile} {
		e := NewEvent(submissionEvent, "sub-"+src, "ACTIVE", at(1))
		e.Source = src
		mustSave(t, s, e, store.Stored)
		w := src
		if w == "" {
			w = store.SourceWebhook
		}
		want[e.ID] = w
		got, err := s.Event(ctx(t), e.ID)
		if err != nil {
			t.Fatalf("Event(%q): %v", e.ID, err)
		}
		if got.Source != w {
			t.Errorf("Event(%q).Source = %q, want %q (saved with %q)", e.ID, got.Source, w, src)
		}
	}
	list, err := s.Events(ctx(t), store.EventFilter{})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	got := map[string]string{}
	for _, e := range list {
		got[e.ID] = e.Source
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Events sources mismatch (-want +got):\n%s", d)
	}
}

// testEnqueueJob: EnqueueJob queues a job of any kind, brings a pending
// one forward but never pushes it back, marks a leased one to run again,
// and a reconcile job is not counted as enrichment work.
func testEnqueueJob(t *testing.T, open OpenFunc) {
	clock := NewClock(T0)
	s := open(t, store.Options{Debounce: debounce, Now: clock.Now})
	enqueue := func(due time.Time) {
		t.Helper()
		if err := s.EnqueueJob(ctx(t), store.JobReconcile, "periodic", due); err != nil {
			t.Fatalf("EnqueueJob: %v", err)
		}
	}
	enqueue(T0.Add(time.Hour))
	if jobs := claim(t, s, "w", 10); len(jobs) != 0 {
		t.Fatalf("ClaimJobs before due = %v, want none", jobKeys(jobs))
	}
	if n := queueDepth(t, s); n != 0 {
		t.Errorf("QueueStats depth with a reconcile job = %d, want 0 (not enrichment)", n)
	}
	enqueue(T0.Add(2 * time.Hour)) // later: must not push the job back
	enqueue(T0)                    // sooner: brought forward
	jobs := claim(t, s, "w", 10)
	if d := diff([]string{"reconcile:periodic"}, jobKeys(jobs)); d != "" {
		t.Fatalf("ClaimJobs after bringing forward (-want +got):\n%s", d)
	}
	enqueue(T0) // while leased: marked to run once more
	complete(t, s, "w", jobs[0])
	if jobs := claim(t, s, "w", 10); len(jobs) != 0 {
		t.Errorf("ClaimJobs right after completing a requeued job = %v, want none before the debounce", jobKeys(jobs))
	}
	clock.Advance(debounce)
	jobs = claim(t, s, "w", 10)
	if d := diff([]string{"reconcile:periodic"}, jobKeys(jobs)); d != "" {
		t.Fatalf("ClaimJobs after the debounce (-want +got):\n%s", d)
	}
	complete(t, s, "w", jobs[0])
	clock.Advance(time.Hour)
	if jobs := claim(t, s, "w", 10); len(jobs) != 0 {
		t.Errorf("ClaimJobs after completing = %v, want none", jobKeys(jobs))
	}
	if err := s.EnqueueJob(ctx(t), "", "k", T0); err == nil {
		t.Error("EnqueueJob with an empty kind succeeded, want an error")
	}
}

// testReconcileMarks: marks are kept per kind and key and only move forward.
func testReconcileMarks(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	marks := func(kind string) map[string]time.Time {
		t.Helper()
		m, err := s.ReconcileMarks(ctx(t), kind)
		if err != nil {
			t.Fatalf("ReconcileMarks(%s): %v", kind, err)
		}
		return m
	}
	set := func(kind, key string, at time.Time) {
		t.Helper()
		if err := s.SetReconcileMark(ctx(t), kind, key, at); err != nil {
			t.Fatalf("SetReconcileMark(%s, %s): %v", kind, key, err)
		}
	}
	if m := marks(store.MarkSubscription); len(m) != 0 {
		t.Errorf("marks of an empty store = %v, want none", m)
	}
	set(store.MarkSubscription, "sub-a", at(10))
	set(store.MarkSubscription, "sub-a", at(5)) // older: ignored
	set(store.MarkSubscription, "sub-b", at(1))
	set(store.MarkSubscription, "sub-b", at(2).Add(123*time.Microsecond))
	set(store.MarkStudy, "sub-a", at(99))
	want := map[string]time.Time{"sub-a": at(10), "sub-b": at(2).Add(123 * time.Microsecond)}
	if d := diff(want, marks(store.MarkSubscription)); d != "" {
		t.Errorf("subscription marks (-want +got):\n%s", d)
	}
	if d := diff(map[string]time.Time{"sub-a": at(99)}, marks(store.MarkStudy)); d != "" {
		t.Errorf("study marks (-want +got):\n%s", d)
	}
}
