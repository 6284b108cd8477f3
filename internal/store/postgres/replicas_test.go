package postgres_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// replicas opens n stores on one schema, as n receiver replicas would.
func replicas(t *testing.T, n int, opts store.Options) []*postgres.DB {
	t.Helper()
	dsn := pgtest.DSN(t)
	dbs := make([]*postgres.DB, n)
	for i := range dbs {
		dbs[i] = open(t, dsn, opts)
	}
	return dbs
}

// TestReplicasSameEventStoredOnce delivers each event to three replicas at
// the same moment: exactly one Save reports Stored, and the event is in the
// table once.
func TestReplicasSameEventStoredOnce(t *testing.T) {
	t.Parallel()
	dbs := replicas(t, 3, store.Options{Enrich: true})
	ctx := ctxT(t)

	const rounds = 30
	for r := range rounds {
		e := event(studyStatus, fmt.Sprintf("study-%d", r%3), "ACTIVE", t0.Add(time.Duration(r)*time.Second))
		outcomes := make([]store.Outcome, len(dbs))
		errs := make([]error, len(dbs))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, db := range dbs {
			ev := *e // each replica decodes its own copy of the request
			wg.Go(func() {
				<-start
				outcomes[i], errs[i] = db.Save(ctx, &ev)
			})
		}
		close(start)
		wg.Wait()
		stored := 0
		for i := range dbs {
			if errs[i] != nil {
				t.Fatalf("round %d: replica %d Save: %v", r, i, errs[i])
			}
			if outcomes[i] == store.Stored {
				stored++
			}
		}
		if stored != 1 {
			t.Fatalf("round %d: %d replicas reported Stored (outcomes %v), want exactly 1", r, stored, outcomes)
		}
	}
	events, err := dbs[0].Events(ctx, store.EventFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	if got, want := len(events), rounds; got != want {
		t.Errorf("stored %d events, want %d", got, want)
	}
}

// TestReplicasNewestStatusWins sends 200 status events for one submission
// and one study, in shuffled order through three replicas at once; both
// projections end at the newest X-Timestamp's status.
func TestReplicasNewestStatusWins(t *testing.T) {
	t.Parallel()
	dbs := replicas(t, 3, store.Options{Enrich: true, Debounce: time.Minute})
	ctx := ctxT(t)

	const n = 200
	subStatuses := []string{"ACTIVE", "AWAITING REVIEW", "RETURNED", "APPROVED", "REJECTED"}
	studyStatuses := []string{"ACTIVE", "PAUSED", "AWAITING REVIEW", "COMPLETED"}
	var events []*store.Event
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Second)
		events = append(events,
			event(submissionStatus, "sub-1", subStatuses[i%len(subStatuses)], at),
			event(studyStatus, "study-1", studyStatuses[i%len(studyStatuses)], at))
	}
	rand.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })

	// 12 senders, each through one replica, pull from the shuffled queue.
	queue := make(chan *store.Event, len(events))
	for _, e := range events {
		queue <- e
	}
	close(queue)
	var wg sync.WaitGroup
	errs := make(chan error, len(events))
	for w := range 12 {
		db := dbs[w%len(dbs)]
		wg.Go(func() {
			for e := range queue {
				if out, err := db.Save(ctx, e); err != nil || out != store.Stored {
					errs <- fmt.Errorf("Save(%s) = %v, %v; want stored", e.ID, out, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	newest := t0.Add((n - 1) * time.Second)
	sub, err := dbs[1].Submission(ctx, "sub-1")
	if err != nil {
		t.Fatalf("Submission: %v", err)
	}
	if want := subStatuses[(n-1)%len(subStatuses)]; sub.Status != want || !sub.StatusAt.Equal(newest) {
		t.Errorf("submission = %q at %v, want %q at %v", sub.Status, sub.StatusAt, want, newest)
	}
	study, err := dbs[2].Study(ctx, "study-1")
	if err != nil {
		t.Fatalf("Study: %v", err)
	}
	if want := studyStatuses[(n-1)%len(studyStatuses)]; study.Status != want || !study.StatusAt.Equal(newest) {
		t.Errorf("study = %q at %v, want %q at %v", study.Status, study.StatusAt, want, newest)
	}
	if !study.LastEventAt.Equal(newest) {
		t.Errorf("study LastEventAt = %v, want %v", study.LastEventAt, newest)
	}
	// Debounce: 200 study events and 200 submission lookups, one job each.
	qs, err := dbs[0].QueueStats(ctx)
	if err != nil {
		t.Fatalf("QueueStats: %v", err)
	}
	if qs.Depth != 2 {
		t.Errorf("queue depth = %d, want 2 (one study refresh, one submission lookup)", qs.Depth)
	}
}

// TestReplicasClaimJobsExclusive lets three replicas claim jobs
// concurrently: every job is handed out, and never to two claimers.
func TestReplicasClaimJobsExclusive(t *testing.T) {
	t.Parallel()
	dbs := replicas(t, 3, store.Options{Enrich: true})
	ctx := ctxT(t)

	const jobs = 90
	for i := range jobs {
		if _, err := dbs[i%3].Save(ctx, event(studyProgress, fmt.Sprintf("study-%03d", i), "", t0)); err != nil {
			t.Fatalf("Save: %v", err)
		}
	}

	var mu sync.Mutex
	claimedBy := map[string]string{}
	var wg sync.WaitGroup
	for w := range 9 {
		db := dbs[w%3]
		owner := fmt.Sprintf("worker-%d", w)
		wg.Go(func() {
			for {
				got, err := db.ClaimJobs(ctx, owner, 4, time.Minute)
				if err != nil {
					t.Errorf("%s ClaimJobs: %v", owner, err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, j := range got {
					if prev, ok := claimedBy[j.Key]; ok {
						t.Errorf("job %s claimed by %s and %s", j.Key, prev, owner)
					}
					claimedBy[j.Key] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimedBy) != jobs {
		t.Errorf("claimed %d distinct jobs, want %d", len(claimedBy), jobs)
	}
	// Only the lease holder may complete: a stranger's CompleteJob is a no-op.
	j := store.Job{Kind: store.JobRefreshStudy, Key: "study-000"}
	if err := dbs[0].CompleteJob(ctx, "stranger", j); err != nil {
		t.Fatalf("CompleteJob by stranger: %v", err)
	}
	if err := dbs[1].CompleteJob(ctx, claimedBy["study-000"], j); err != nil {
		t.Fatalf("CompleteJob by owner: %v", err)
	}
	qs, err := dbs[2].QueueStats(ctx)
	if err != nil {
		t.Fatalf("QueueStats: %v", err)
	}
	if qs.Depth != jobs-1 {
		t.Errorf("queue depth = %d, want %d (only the owner's completion removes a job)", qs.Depth, jobs-1)
	}
}

// TestReplicasLeaseAndRequeue: a job leased by one replica is invisible to
// another until the lease ends; an event arriving on another replica while
// the job runs re-arms it instead of losing the request.
func TestReplicasLeaseAndRequeue(t *testing.T) {
	t.Parallel()
	var now atomic.Pointer[time.Time]
	start := t0.Add(time.Hour)
	now.Store(&start)
	clock := func() time.Time { return *now.Load() }
	advance := func(d time.Duration) { next := clock().Add(d); now.Store(&next) }
	dbs := replicas(t, 2, store.Options{Enrich: true, Debounce: time.Second, Now: clock})
	a, b := dbs[0], dbs[1]
	ctx := ctxT(t)

	if _, err := a.Save(ctx, event(studyProgress, "study-l", "", t0)); err != nil {
		t.Fatalf("Save: %v", err)
	}
	advance(time.Second)
	claimed, err := a.ClaimJobs(ctx, "a", 10, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("a ClaimJobs = %v, %v; want one job", claimed, err)
	}
	if got, err := b.ClaimJobs(ctx, "b", 10, time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("b ClaimJobs during a's lease = %v, %v; want none", got, err)
	}
	// An event on replica b while a runs the job: requeue.
	if _, err := b.Save(ctx, event(studyProgress, "study-l", "", t0.Add(time.Second))); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if err := a.CompleteJob(ctx, "a", claimed[0]); err != nil {
		t.Fatalf("CompleteJob: %v", err)
	}
	if got, _ := b.ClaimJobs(ctx, "b", 10, time.Minute); len(got) != 0 {
		t.Fatalf("b claimed %v before the debounce passed, want none", got)
	}
	advance(time.Second)
	again, err := b.ClaimJobs(ctx, "b", 10, 10*time.Second)
	if err != nil || len(again) != 1 || again[0].Attempts != 1 {
		t.Fatalf("b ClaimJobs after requeue = %+v, %v; want the job once more with 1 attempt", again, err)
	}
	// b crashes: after its lease expires, a takes the job over.
	advance(11 * time.Second)
	took, err := a.ClaimJobs(ctx, "a", 10, time.Minute)
	if err != nil || len(took) != 1 || took[0].Attempts != 2 {
		t.Fatalf("a ClaimJobs after b's lease expired = %+v, %v; want the job with 2 attempts", took, err)
	}
	// b's late completion is ignored: it no longer holds the lease.
	if err := b.CompleteJob(ctx, "b", again[0]); err != nil {
		t.Fatalf("late CompleteJob: %v", err)
	}
	if qs, err := a.QueueStats(ctx); err != nil || qs.Depth != 1 {
		t.Fatalf("QueueStats after a stale completion = %+v, %v; want depth 1", qs, err)
	}
}
