package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/prolific-receiver/receiver/internal/store"
)

// OpenFunc returns a fresh, empty store configured with opts; the backend
// registers its cleanup with t.Cleanup.
type OpenFunc func(t *testing.T, opts store.Options) store.Store

// Run runs the contract suite against the backend open creates.
func Run(t *testing.T, open OpenFunc) {
	tests := []struct {
		name string
		fn   func(*testing.T, OpenFunc)
	}{
		{"SaveReadBack", testSaveReadBack},
		{"NotFound", testNotFound},
		{"DuplicateID", testDuplicateID},
		{"DuplicateContent", testDuplicateContent},
		{"DuplicateInOneBatch", testDuplicateInOneBatch},
		{"AliasSameContent", testAliasSameContent},
		{"AliasCap", testAliasCap},
		{"AliasConcurrent", testAliasConcurrent},
		{"StudyOrdering", testStudyOrdering},
		{"SubmissionOrdering", testSubmissionOrdering},
		{"UnknownType", testUnknownType},
		{"HighReturnRate", testHighReturnRate},
		{"ProgressTouchesStudy", testProgressTouchesStudy},
		{"SubmissionStudyMapping", testSubmissionStudyMapping},
		{"SubmissionsStudyMapping", testSubmissionsStudyMapping},
		{"PruneActions", testPruneActions},
		{"EventsFilters", testEventsFilters},
		{"StudiesOrderAndSeenSince", testStudiesOrderAndSeenSince},
		{"SubmissionsByStudy", testSubmissionsByStudy},
		{"SubmissionCounts", testSubmissionCounts},
		{"SnapshotOrdering", testSnapshotOrdering},
		{"EnqueueOnlyWithEnrich", testEnqueueOnlyWithEnrich},
		{"EnqueueKinds", testEnqueueKinds},
		{"Debounce", testDebounce},
		{"RequeueWhileLeased", testRequeueWhileLeased},
		{"RetryClearsRequeue", testRetryClearsRequeue},
		{"LeaseExclusivity", testLeaseExclusivity},
		{"SweepSelects", testSweepSelects},
		{"SweepDebounce", testSweepDebounce},
		{"SweepClosed", testSweepClosed},
		{"PruneOld", testPruneOld},
		{"PruneLimit", testPruneLimit},
		{"PruneKeepsProjections", testPruneKeepsProjections},
		{"PruneForgetsID", testPruneForgetsID},
		{"PruneClosed", testPruneClosed},
		{"ConcurrentSaves", testConcurrentSaves},
		{"ConcurrentShuffledTimestamps", testConcurrentShuffledTimestamps},
		{"SourceStored", testSourceStored},
		{"EnqueueJob", testEnqueueJob},
		{"ReconcileMarks", testReconcileMarks},
		{"OutboxRouting", testOutboxRouting},
		{"OutboxOrdered", testOutboxOrdered},
		{"OutboxLease", testOutboxLease},
		{"OutboxLimit", testOutboxLimit},
		{"OutboxDeadLetters", testOutboxDeadLetters},
		{"OutboxPause", testOutboxPause},
		{"OutboxPruned", testOutboxPruned},
		{"OutboxRetryBatch", testOutboxRetryBatch},
		{"RulesDecideOnce", testRulesDecideOnce},
		{"RulesCursor", testRulesCursor},
		{"RulesCursorRace", testRulesCursorRace},
		{"RulesDigest", testRulesDigest},
		{"RulesLease", testRulesLease},
		{"RulesDecideClaim", testRulesDecideClaim},
		{"RulesDecideSettled", testRulesDecideSettled},
		{"RulesList", testRulesList},
		{"RulesForward", testRulesForward},
		{"Feed", testFeed},
		{"Closed", testClosed},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open)
		})
	}
}

// ctx returns a context that ends with the test (bounded, so a hung backend fails).
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// mustSave saves e and fails the test unless the outcome is want.
func mustSave(t *testing.T, s store.Store, e *store.Event, want store.Outcome) {
	t.Helper()
	got, err := s.Save(ctx(t), e)
	if err != nil {
		t.Fatalf("Save(%s %s %q): %v", e.Type, e.ResourceID, e.Status, err)
	}
	if got != want {
		t.Fatalf("Save(%s %s %q) = %v, want %v", e.Type, e.ResourceID, e.Status, got, want)
	}
}

// saveAll saves events from workers goroutines and fails on any error; it
// returns the outcomes by index.
func saveAll(t *testing.T, s store.Store, events []*store.Event, workers int) []store.Outcome {
	t.Helper()
	out := make([]store.Outcome, len(events))
	errs := make([]error, len(events))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = s.Save(ctx(t), events[i])
			}
		})
	}
	for i := range events {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Save: %v", err)
	}
	return out
}

func mustStudy(t *testing.T, s store.Store, id string) *store.Study {
	t.Helper()
	st, err := s.Study(ctx(t), id)
	if err != nil {
		t.Fatalf("Study(%q): %v", id, err)
	}
	return st
}

func mustSubmission(t *testing.T, s store.Store, id string) *store.Submission {
	t.Helper()
	sub, err := s.Submission(ctx(t), id)
	if err != nil {
		t.Fatalf("Submission(%q): %v", id, err)
	}
	return sub
}

func mustEvents(t *testing.T, s store.Store, f store.EventFilter) []store.Event {
	t.Helper()
	evs, err := s.Events(ctx(t), f)
	if err != nil {
		t.Fatalf("Events(%+v): %v", f, err)
	}
	return evs
}

func ids(evs []store.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// equateEmpty treats nil and empty maps/slices as equal: backends may return either.
var equateEmpty = cmpopts.EquateEmpty()

func diff(want, got any) string { return cmp.Diff(want, got, equateEmpty) }

// at returns T0 plus n seconds.
func at(n int) time.Time { return T0.Add(time.Duration(n) * time.Second) }
