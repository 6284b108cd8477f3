package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

const (
	debounce = 10 * time.Second
	lease    = 30 * time.Second
)

// enrichStore opens a store with enrichment on and a manual clock at T0.
func enrichStore(t *testing.T, open OpenFunc) (store.Store, *Clock) {
	clock := NewClock(T0)
	return open(t, store.Options{Enrich: true, Debounce: debounce, Now: clock.Now}), clock
}

func claim(t *testing.T, s store.Store, owner string, limit int) []store.Job {
	t.Helper()
	jobs, err := s.ClaimJobs(ctx(t), owner, limit, lease)
	if err != nil {
		t.Fatalf("ClaimJobs(%s): %v", owner, err)
	}
	return jobs
}

// complete completes j as owner; an error fails the test. (Completing a
// job owner does not hold is a no-op, not an error.)
func complete(t *testing.T, s store.Store, owner string, j store.Job) {
	t.Helper()
	if err := s.CompleteJob(ctx(t), owner, j); err != nil {
		t.Fatalf("CompleteJob(%s, %s:%s): %v", owner, j.Kind, j.Key, err)
	}
}

// claimOne saves one study event, lets its debounce pass and claims the
// study's job as "w".
func claimOne(t *testing.T, s store.Store, clock *Clock) store.Job {
	t.Helper()
	mustSave(t, s, NewEvent(studyProgress, "study-1", "", at(0)), store.Stored)
	clock.Advance(debounce)
	jobs := claim(t, s, "w", 1)
	if len(jobs) != 1 {
		t.Fatalf("claimed %v, want one job", jobKeys(jobs))
	}
	return jobs[0]
}

func jobKeys(jobs []store.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Kind+":"+j.Key)
	}
	return out
}

func queueDepth(t *testing.T, s store.Store) int {
	t.Helper()
	st, err := s.QueueStats(ctx(t))
	if err != nil {
		t.Fatalf("QueueStats: %v", err)
	}
	return st.Depth
}

func testEnqueueOnlyWithEnrich(t *testing.T, open OpenFunc) {
	clock := NewClock(T0)
	s := open(t, store.Options{Debounce: debounce, Now: clock.Now})
	mustSave(t, s, NewEvent(studyStatus, "study-1", "ACTIVE", at(0)), store.Stored)
	mustSave(t, s, NewEvent(submissionEvent, "sub-1", "ACTIVE", at(0)), store.Stored)
	if err := s.SetSubmissionStudy(ctx(t), "sub-1", "study-2"); err != nil {
		t.Fatalf("SetSubmissionStudy: %v", err)
	}
	clock.Advance(time.Hour)
	if jobs := claim(t, s, "w", 10); len(jobs) != 0 {
		t.Errorf("ClaimJobs without Enrich = %v, want none", jobKeys(jobs))
	}
	st, err := s.QueueStats(ctx(t))
	if err != nil || st.Depth != 0 || !st.OldestQueued.IsZero() {
		t.Errorf("QueueStats = %+v, %v; want empty", st, err)
	}
}

func testEnqueueKinds(t *testing.T, open OpenFunc) {
	s, clock := enrichStore(t, open)
	mustSave(t, s, NewEvent(studyStatus, "study-1", "ACTIVE", at(0)), store.Stored)
	mustSave(t, s, NewEvent(submissionEvent, "sub-1", "ACTIVE", at(0)), store.Stored)
	if jobs := claim(t, s, "w", 10); len(jobs) != 0 {
		t.Errorf("ClaimJobs before the debounce = %v, want none (not due)", jobKeys(jobs))
	}
	st, err := s.QueueStats(ctx(t))
	if err != nil || st.Depth != 2 || !st.OldestQueued.Equal(T0) {
		t.Errorf("QueueStats = %+v, %v; want depth 2, oldest %v", st, err, T0)
	}
	clock.Advance(debounce)
	jobs := claim(t, s, "w", 10)
	want := []string{"study:study-1", "submission:sub-1"}
	if d := diff(want, sortedKeys(jobs)); d != "" {
		t.Errorf("claimed jobs mismatch (-want +got):\n%s", d)
	}
	for _, j := range jobs {
		if j.Attempts != 1 || !j.DueAt.Equal(T0.Add(debounce)) || !j.CreatedAt.Equal(T0) {
			t.Errorf("job %s:%s = attempts %d due %v created %v; want 1, %v, %v",
				j.Kind, j.Key, j.Attempts, j.DueAt, j.CreatedAt, T0.Add(debounce), T0)
		}
		complete(t, s, "w", j)
	}
	if n := queueDepth(t, s); n != 0 {
		t.Errorf("queue depth after completing = %d, want 0", n)
	}

	// Once the submission's study is known, its events refresh the study instead.
	if err := s.SetSubmissionStudy(ctx(t), "sub-1", "study-9"); err != nil {
		t.Fatalf("SetSubmissionStudy: %v", err)
	}
	mustSave(t, s, NewEvent(submissionEvent, "sub-1", "AWAITING REVIEW", at(5)), store.Stored)
	clock.Advance(debounce)
	if d := diff([]string{"study:study-9"}, jobKeys(claim(t, s, "w", 10))); d != "" {
		t.Errorf("jobs after mapping mismatch (-want +got):\n%s", d)
	}
}

func sortedKeys(jobs []store.Job) []string {
	keys := jobKeys(jobs)
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

func testDebounce(t *testing.T, open OpenFunc) {
	s, clock := enrichStore(t, open)
	n := 500
	if raceEnabled {
		n = 150
	}
	events := make([]*store.Event, n)
	for i := range events {
		events[i] = NewEvent(studyProgress, "study-1", "", at(i))
	}
	saveAll(t, s, events, 25)
	clock.Advance(debounce / 2)
	mustSave(t, s, NewEvent(studyProgress, "study-1", "", at(600)), store.Stored)
	if depth := queueDepth(t, s); depth != 1 {
		t.Fatalf("queue depth after %d events for one study = %d, want 1", len(events)+1, depth)
	}
	// The first event's due time holds: later events do not push it back.
	clock.Advance(debounce / 2)
	jobs := claim(t, s, "w", 10)
	if d := diff([]string{"study:study-1"}, jobKeys(jobs)); d != "" {
		t.Fatalf("claimed jobs mismatch (-want +got):\n%s", d)
	}
	if !jobs[0].DueAt.Equal(T0.Add(debounce)) {
		t.Errorf("DueAt = %v, want %v (not pushed back)", jobs[0].DueAt, T0.Add(debounce))
	}
}

func testRequeueWhileLeased(t *testing.T, open OpenFunc) {
	s, clock := enrichStore(t, open)
	job := claimOne(t, s, clock)
	// Events arrive while the job runs: it must run once more.
	mustSave(t, s, NewEvent(studyProgress, "study-1", "", at(1)), store.Stored)
	mustSave(t, s, NewEvent(studyProgress, "study-1", "", at(2)), store.Stored)
	clock.Advance(time.Second)
	complete(t, s, "w", job)
	if n := queueDepth(t, s); n != 1 {
		t.Fatalf("queue depth after completing a requeued job = %d, want 1", n)
	}
	if again := claim(t, s, "w", 1); len(again) != 0 {
		t.Errorf("re-armed job claimable before its debounce: %v", jobKeys(again))
	}
	clock.Advance(debounce)
	again := claim(t, s, "w", 1)
	if len(again) != 1 || again[0].Attempts != 1 || !again[0].DueAt.Equal(clock.Now()) {
		t.Fatalf("re-armed job = %+v, want one job, attempts 1, due %v", again, clock.Now())
	}
	complete(t, s, "w", again[0])
	if n := queueDepth(t, s); n != 0 {
		t.Errorf("queue depth after the second completion = %d, want 0", n)
	}
}

func testLeaseExclusivity(t *testing.T, open OpenFunc) {
	s, clock := enrichStore(t, open)
	for i := range 3 {
		mustSave(t, s, NewEvent(studyProgress, fmt.Sprint("study-", i), "", at(i)), store.Stored)
		clock.Advance(time.Second) // distinct due times: oldest due first
	}
	clock.Advance(debounce)
	a := claim(t, s, "a", 2)
	if d := diff([]string{"study:study-0", "study:study-1"}, jobKeys(a)); d != "" {
		t.Fatalf("a claimed mismatch (-want +got):\n%s", d)
	}
	b := claim(t, s, "b", 10)
	if d := diff([]string{"study:study-2"}, jobKeys(b)); d != "" {
		t.Fatalf("b claimed mismatch (-want +got):\n%s", d)
	}
	if more := claim(t, s, "c", 10); len(more) != 0 {
		t.Errorf("c claimed leased jobs %v", jobKeys(more))
	}
	// Only the owner completes or retries.
	complete(t, s, "b", a[0])
	if err := s.RetryJob(ctx(t), "b", a[1], clock.Now(), "not mine"); err != nil {
		t.Fatalf("RetryJob by non-owner: %v", err)
	}
	if n := queueDepth(t, s); n != 3 {
		t.Errorf("queue depth after non-owner calls = %d, want 3 (no-ops)", n)
	}
	if more := claim(t, s, "c", 10); len(more) != 0 {
		t.Errorf("non-owner RetryJob released %v", jobKeys(more))
	}

	// a crashes: after the lease, c takes its jobs over and a can no longer complete them.
	clock.Advance(lease)
	c := claim(t, s, "c", 10)
	if d := diff([]string{"study:study-0", "study:study-1", "study:study-2"}, sortedKeys(c)); d != "" {
		t.Fatalf("c claimed after lease expiry mismatch (-want +got):\n%s", d)
	}
	for _, j := range c {
		if j.Attempts != 2 {
			t.Errorf("job %s attempts = %d, want 2", j.Key, j.Attempts)
		}
	}
	complete(t, s, "a", a[0])
	if n := queueDepth(t, s); n != 3 {
		t.Errorf("queue depth after the expired owner's CompleteJob = %d, want 3", n)
	}

	for _, j := range c[1:] {
		complete(t, s, "c", j)
	}
	// c fails one job: it waits for retryAt with the reason recorded.
	retryAt := clock.Now().Add(time.Minute)
	if err := s.RetryJob(ctx(t), "c", c[0], retryAt, "api said 502"); err != nil {
		t.Fatalf("RetryJob: %v", err)
	}
	clock.Advance(time.Minute - time.Second)
	if more := claim(t, s, "d", 10); len(more) != 0 {
		t.Errorf("claimed before retryAt: %v", jobKeys(more))
	}
	clock.Advance(time.Second)
	d := claim(t, s, "d", 10)
	if len(d) != 1 || d[0].Key != c[0].Key || d[0].LastError != "api said 502" || d[0].Attempts != 3 || !d[0].DueAt.Equal(retryAt) {
		t.Fatalf("claimed after retryAt = %+v, want %s with LastError, attempts 3, due %v", d, c[0].Key, retryAt)
	}
	complete(t, s, "d", d[0])
	if n := queueDepth(t, s); n != 0 {
		t.Errorf("queue depth at the end = %d, want 0", n)
	}
}

func testRetryClearsRequeue(t *testing.T, open OpenFunc) {
	s, clock := enrichStore(t, open)
	job := claimOne(t, s, clock)
	// An event while the job runs marks it requeued; the failed run's retry
	// then covers that event, so completing the retry ends the job.
	mustSave(t, s, NewEvent(studyProgress, "study-1", "", at(1)), store.Stored)
	retryAt := clock.Now().Add(time.Minute)
	if err := s.RetryJob(ctx(t), "w", job, retryAt, "api said 503"); err != nil {
		t.Fatalf("RetryJob: %v", err)
	}
	clock.Advance(time.Minute)
	again := claim(t, s, "w", 1)
	if len(again) != 1 || !again[0].DueAt.Equal(retryAt) || again[0].LastError != "api said 503" {
		t.Fatalf("claimed after retryAt = %+v, want the job due %v with its LastError", again, retryAt)
	}
	complete(t, s, "w", again[0])
	if n := queueDepth(t, s); n != 0 {
		t.Errorf("queue depth after completing the retry = %d, want 0 (RetryJob cleared requeue)", n)
	}
}
