package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// sweep calls EnqueueStudyRefreshes and fails the test on an error.
func sweep(t *testing.T, s store.Store, statuses []string, seenSince time.Time) int {
	t.Helper()
	n, err := s.EnqueueStudyRefreshes(ctx(t), statuses, seenSince)
	if err != nil {
		t.Fatalf("EnqueueStudyRefreshes(%q, %v): %v", statuses, seenSince, err)
	}
	return n
}

// testSweepSelects: only studies with a listed status, seen recently, are
// queued, due at once; a store without Enrich queues them too.
func testSweepSelects(t *testing.T, open OpenFunc) {
	clock := NewClock(T0)
	s := open(t, store.Options{Debounce: debounce, Now: clock.Now})
	// Seen two hours before the sweep's window starts.
	mustSave(t, s, NewEvent(studyStatus, "study-old", "ACTIVE", at(-7200)), store.Stored)
	clock.Advance(2 * time.Hour)
	now := clock.Now()
	for id, status := range map[string]string{
		"study-active":    "ACTIVE",
		"study-paused":    "PAUSED",
		"study-review":    "AWAITING REVIEW",
		"study-completed": "COMPLETED",
		"study-scheduled": "SCHEDULED",
	} {
		mustSave(t, s, NewEvent(studyStatus, id, status, now), store.Stored)
	}
	mustSave(t, s, NewEvent(studyProgress, "study-unknown", "", now), store.Stored)

	if n := sweep(t, s, nil, time.Time{}); n != 0 {
		t.Errorf("EnqueueStudyRefreshes(no statuses) = %d, want 0", n)
	}
	statuses := []string{"ACTIVE", "PAUSED", "AWAITING REVIEW", ""}
	if n := sweep(t, s, statuses, now.Add(-time.Hour)); n != 4 {
		t.Errorf("EnqueueStudyRefreshes(%q, an hour ago) = %d, want 4", statuses, n)
	}
	jobs := claim(t, s, "w", 10)
	want := []string{"study:study-active", "study:study-paused", "study:study-review", "study:study-unknown"}
	if d := diff(want, sortedKeys(jobs)); d != "" {
		t.Errorf("claimed jobs mismatch (-want +got):\n%s", d)
	}
	for _, j := range jobs {
		if !j.DueAt.Equal(now) || !j.CreatedAt.Equal(now) || j.Attempts != 1 {
			t.Errorf("job %s = due %v created %v attempts %d; want %v, %v, 1", j.Key, j.DueAt, j.CreatedAt, j.Attempts, now, now)
		}
	}

	// A zero seenSince takes every study with the status, however old.
	if n := sweep(t, s, []string{"ACTIVE"}, time.Time{}); n != 2 {
		t.Errorf("EnqueueStudyRefreshes(ACTIVE, zero) = %d, want 2 (study-old queued, study-active marked)", n)
	}
	if d := diff([]string{"study:study-old"}, jobKeys(claim(t, s, "w", 10))); d != "" {
		t.Errorf("jobs after a sweep without time bound mismatch (-want +got):\n%s", d)
	}
}

// testSweepDebounce: a pending job keeps its due time, a leased one is
// marked once to run again, a study without a job gets one due now.
func testSweepDebounce(t *testing.T, open OpenFunc) {
	s, clock := enrichStore(t, open)
	mustSave(t, s, NewEvent(studyStatus, "study-leased", "ACTIVE", at(0)), store.Stored)
	mustSave(t, s, NewEvent(studyStatus, "study-idle", "ACTIVE", at(0)), store.Stored)
	clock.Advance(debounce)
	jobs := claim(t, s, "w", 10)
	if d := diff([]string{"study:study-idle", "study:study-leased"}, sortedKeys(jobs)); d != "" {
		t.Fatalf("claimed jobs mismatch (-want +got):\n%s", d)
	}
	leased := jobs[0]
	for _, j := range jobs {
		if j.Key == "study-idle" {
			complete(t, s, "w", j)
		} else {
			leased = j
		}
	}
	mustSave(t, s, NewEvent(studyProgress, "study-pending", "", at(10)), store.Stored)
	pendingDue := clock.Now().Add(debounce)
	clock.Advance(time.Second)

	statuses := []string{"ACTIVE", ""}
	if n := sweep(t, s, statuses, T0); n != 2 {
		t.Errorf("first sweep = %d, want 2 (study-idle queued, study-leased marked)", n)
	}
	if n := sweep(t, s, statuses, T0); n != 0 {
		t.Errorf("second sweep = %d, want 0 (nothing new to queue or mark)", n)
	}
	if n := queueDepth(t, s); n != 3 {
		t.Errorf("queue depth = %d, want 3 (one job per study)", n)
	}
	// Only the new job is due now; the pending one is not brought forward.
	now := clock.Now()
	got := claim(t, s, "w", 10)
	if d := diff([]string{"study:study-idle"}, jobKeys(got)); d != "" {
		t.Fatalf("claimed after sweep mismatch (-want +got):\n%s", d)
	}
	if !got[0].DueAt.Equal(now) {
		t.Errorf("swept job DueAt = %v, want %v (due at once)", got[0].DueAt, now)
	}
	// The leased job was marked: completing it re-arms it.
	complete(t, s, "w", leased)
	if n := queueDepth(t, s); n != 3 {
		t.Errorf("queue depth after completing the marked job = %d, want 3 (it runs once more)", n)
	}
	clock.Advance(pendingDue.Sub(clock.Now()))
	got = claim(t, s, "w", 10)
	if d := diff([]string{"study:study-pending"}, jobKeys(got)); d != "" {
		t.Fatalf("claimed at the pending job's due time mismatch (-want +got):\n%s", d)
	}
	if !got[0].DueAt.Equal(pendingDue) {
		t.Errorf("pending job DueAt = %v, want %v (not pushed back)", got[0].DueAt, pendingDue)
	}
}

// testSweepClosed: a closed store refuses the sweep.
func testSweepClosed(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.EnqueueStudyRefreshes(ctx(t), []string{"ACTIVE"}, T0); !errors.Is(err, store.ErrClosed) {
		t.Errorf("EnqueueStudyRefreshes after Close = %v, want ErrClosed", err)
	}
}
