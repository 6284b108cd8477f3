package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// cutoff is the retention boundary the prune cases use: events received
// before it are old.
var cutoff = at(100)

// prune calls PruneEvents and fails the test on an error.
func prune(t *testing.T, s store.Store, before time.Time, limit int) int {
	t.Helper()
	n, err := s.PruneEvents(ctx(t), before, limit)
	if err != nil {
		t.Fatalf("PruneEvents(%v, %d): %v", before, limit, err)
	}
	return n
}

// mustBeGone fails unless Event(id) is ErrNotFound.
func mustBeGone(t *testing.T, s store.Store, id string) {
	t.Helper()
	if got, err := s.Event(ctx(t), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Event(%q) after pruning = %v, %v; want %v", id, got, err, store.ErrNotFound)
	}
}

// testPruneOld: events received before the cutoff go with their aliases;
// the rest, one received exactly at the cutoff included, stay.
func testPruneOld(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	old := []*store.Event{
		NewEvent(studyStatus, "study-1", "ACTIVE", at(0)),
		NewEvent(submissionEvent, "sub-1", "APPROVED", at(10)),
		NewEvent(studyProgress, "study-1", "", at(20)),
	}
	for _, e := range old {
		mustSave(t, s, e, store.Stored)
	}
	oldAlias := sameContent(old[0], old[0].ID+"-alias", 30)
	mustSave(t, s, oldAlias, store.Duplicate)
	boundary := NewEvent(studyProgress, "study-2", "", cutoff.Add(-time.Second)) // received at the cutoff
	recent := NewEvent(studyStatus, "study-2", "PAUSED", at(200))
	mustSave(t, s, boundary, store.Stored)
	mustSave(t, s, recent, store.Stored)
	recentAlias := sameContent(recent, recent.ID+"-alias", 201)
	mustSave(t, s, recentAlias, store.Duplicate)

	if n := prune(t, s, cutoff, 100); n != 3 {
		t.Errorf("PruneEvents(cutoff, 100) = %d, want 3", n)
	}
	for _, e := range old {
		mustBeGone(t, s, e.ID)
	}
	mustBeGone(t, s, oldAlias.ID)
	mustResolve(t, s, boundary.ID, boundary)
	mustResolve(t, s, recent.ID, recent)
	mustResolve(t, s, recentAlias.ID, recent)
	if got := ids(mustEvents(t, s, store.EventFilter{})); diff([]string{recent.ID, boundary.ID}, got) != "" {
		t.Errorf("Events after pruning = %v, want [%s %s]", got, recent.ID, boundary.ID)
	}
	// The alias row went too: its ID is new again.
	again := NewEvent(studyProgress, "study-3", "", at(300))
	again.ID = oldAlias.ID
	mustSave(t, s, again, store.Stored)
	if n := prune(t, s, cutoff, 100); n != 0 {
		t.Errorf("second PruneEvents(cutoff, 100) = %d, want 0", n)
	}
}

// testPruneLimit: one call deletes at most limit events, oldest first; a
// limit of zero deletes none.
func testPruneLimit(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	var old []*store.Event
	for i := range 5 {
		e := NewEvent(studyProgress, "study-1", "", at(i*10))
		mustSave(t, s, e, store.Stored)
		old = append(old, e)
	}
	recent := NewEvent(studyProgress, "study-1", "", at(200))
	mustSave(t, s, recent, store.Stored)

	if n := prune(t, s, cutoff, 0); n != 0 {
		t.Errorf("PruneEvents(cutoff, 0) = %d, want 0", n)
	}
	for i, want := range []int{2, 2, 1, 0} {
		if n := prune(t, s, cutoff, 2); n != want {
			t.Errorf("PruneEvents(cutoff, 2) #%d = %d, want %d", i+1, n, want)
		}
		if i == 0 {
			mustBeGone(t, s, old[0].ID)
			mustBeGone(t, s, old[1].ID)
			mustResolve(t, s, old[2].ID, old[2])
		}
	}
	if got := ids(mustEvents(t, s, store.EventFilter{})); diff([]string{recent.ID}, got) != "" {
		t.Errorf("Events after pruning = %v, want [%s]", got, recent.ID)
	}
}

// testPruneKeepsProjections: studies, submissions and queued jobs stay as
// they were when the events behind them are pruned.
func testPruneKeepsProjections(t *testing.T, open OpenFunc) {
	s, _ := enrichStore(t, open)
	for _, e := range []*store.Event{
		NewEvent(studyStatus, "study-1", "ACTIVE", at(0)),
		NewEvent(studyHighReturn, "study-1", "", at(5)),
		NewEvent(submissionEvent, "sub-1", "AWAITING REVIEW", at(10)),
		NewEvent(submissionEvent, "sub-2", "APPROVED", at(20)),
	} {
		mustSave(t, s, e, store.Stored)
	}
	if err := s.SetSubmissionStudy(ctx(t), "sub-1", "study-1"); err != nil {
		t.Fatalf("SetSubmissionStudy: %v", err)
	}
	study, sub := mustStudy(t, s, "study-1"), mustSubmission(t, s, "sub-2")
	subs, err := s.Submissions(ctx(t), "study-1", 0)
	if err != nil {
		t.Fatalf("Submissions: %v", err)
	}
	depth := queueDepth(t, s)

	if n := prune(t, s, cutoff, 100); n != 4 {
		t.Fatalf("PruneEvents(cutoff, 100) = %d, want 4", n)
	}
	if d := diff(study, mustStudy(t, s, "study-1")); d != "" {
		t.Errorf("study changed by pruning (-before +after):\n%s", d)
	}
	if d := diff(sub, mustSubmission(t, s, "sub-2")); d != "" {
		t.Errorf("submission changed by pruning (-before +after):\n%s", d)
	}
	after, err := s.Submissions(ctx(t), "study-1", 0)
	if err != nil {
		t.Fatalf("Submissions: %v", err)
	}
	if d := diff(subs, after); d != "" {
		t.Errorf("study's submissions changed by pruning (-before +after):\n%s", d)
	}
	if got := queueDepth(t, s); got != depth {
		t.Errorf("queue depth after pruning = %d, want %d", got, depth)
	}
}

// testPruneForgetsID: a pruned event delivered again is stored again (the
// reason retention must outlive Prolific's retries by far).
func testPruneForgetsID(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	e := NewEvent(studyProgress, "study-1", "", at(0))
	mustSave(t, s, e, store.Stored)
	mustSave(t, s, NewEvent(studyProgress, "study-1", "", at(200)), store.Stored)
	if n := prune(t, s, cutoff, 100); n != 1 {
		t.Fatalf("PruneEvents(cutoff, 100) = %d, want 1", n)
	}
	again := *e
	again.Seq = 0
	mustSave(t, s, &again, store.Stored)
	if again.Seq <= e.Seq {
		t.Errorf("re-stored event Seq = %d, want more than the pruned one's %d", again.Seq, e.Seq)
	}
	mustResolve(t, s, e.ID, &again)
}

// testPruneClosed: a closed store refuses to prune.
func testPruneClosed(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.PruneEvents(ctx(t), cutoff, 10); !errors.Is(err, store.ErrClosed) {
		t.Errorf("PruneEvents after Close = %v, want ErrClosed", err)
	}
}

// testPruneActions: PruneActions deletes the rule actions that finished
// before the cutoff, oldest first and at most limit at a time; pending
// actions stay however old, and so do those that finished later.
func testPruneActions(t *testing.T, open OpenFunc) {
	s, clock := rulesStore(t, open)
	dec := func(key string) store.Decision {
		return store.Decision{Key: key, Rule: "r", Action: "notify", StudyID: "s1"}
	}
	decide(t, s, nil, dec("k0"), dec("k1"), dec("k2"), dec("k3"))
	byKey := map[string]int64{}
	for _, a := range claimActions(t, s, "w") {
		byKey[a.Key] = a.ID
	}
	if len(byKey) != 4 {
		t.Fatalf("claimed %v, want k0..k3", byKey)
	}
	finish := func(key, outcome string) {
		t.Helper()
		if err := s.FinishActions(ctx(t), "w", []store.ActionResult{{ID: byKey[key], Outcome: outcome}}); err != nil {
			t.Fatalf("FinishActions(%s): %v", key, err)
		}
	}
	clock.Advance(time.Hour)
	finish("k0", store.ActionDone)
	finish("k1", store.ActionFailed)
	clock.Advance(2 * time.Hour) // k2 stays pending (leased, then retried)
	finish("k3", store.ActionSkipped)
	decide(t, s, nil, dec("k4")) // decided after the first cutoff, pending
	prune := func(before time.Time, limit, want int) {
		t.Helper()
		n, err := s.PruneActions(ctx(t), before, limit)
		if err != nil || n != want {
			t.Fatalf("PruneActions(%v, %d) = %d, %v; want %d", before.Sub(T0), limit, n, err, want)
		}
	}
	early := T0.Add(2 * time.Hour)
	prune(early, 0, 0)
	prune(early, 1, 1) // the oldest: k0
	if d := diff([]string{"k4", "k3", "k2", "k1"}, actionKeys(listActions(t, s, store.ActionFilter{}))); d != "" {
		t.Errorf("after one (-want +got):\n%s", d)
	}
	prune(early, 10, 1) // k1; k3 finished after the cutoff
	prune(early, 10, 0)
	prune(T0.Add(4*time.Hour), 10, 1) // k3; k2 and k4 are pending
	if d := diff([]string{"k4", "k2"}, actionKeys(listActions(t, s, store.ActionFilter{}))); d != "" {
		t.Errorf("left (-want +got):\n%s", d)
	}
	// A pruned key is forgotten: decided again, it is recorded again.
	if n := decide(t, s, nil, dec("k0")); n != 1 {
		t.Errorf("Decide(k0) after its prune = %d new, want 1", n)
	}
}
