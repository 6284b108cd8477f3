package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// testRulesDecideClaim: DecideClaim leases, in the same transaction, the
// new actions of decisions asking for it that are due, and returns them as
// ClaimActions would have; the rest are left for a claim; a key recorded
// already is not leased again; a leased action is its holder's until its
// lease runs out, when the next claim takes it as interrupted.
func testRulesDecideClaim(t *testing.T, open OpenFunc) {
	s, clock := rulesStore(t, open)
	if _, err := s.RulesCursor(ctx(t), 0); err != nil {
		t.Fatal(err)
	}
	decide(t, s, nil, store.Decision{Key: "old", Rule: "r", Action: "group_add", Target: "p0", Lease: true})
	ds := []store.Decision{
		{Key: "now", Rule: "r", Action: "group_add", StudyID: "s1", Target: "p1", Batch: "group:g", EventIDs: []string{"e1"},
			Count: 1, DryRun: true, Detail: `{"n":1}`, Lease: true},
		{Key: "later", Rule: "r", Action: "group_add", Target: "p2", DueAt: T0.Add(time.Hour), Lease: true},
		{Key: "unasked", Rule: "r", Action: "notify", Target: "slack"},
		{Key: "old", Rule: "r", Action: "group_add", Target: "p0", Lease: true},
	}
	leased, err := s.DecideClaim(ctx(t), &store.RuleCursor{From: 0, To: 5}, ds, "a", lease)
	if err != nil {
		t.Fatalf("DecideClaim: %v", err)
	}
	if len(leased) != 1 {
		t.Fatalf("DecideClaim leased %v, want [now]", actionKeys(leased))
	}
	if cur, err := s.RulesCursor(ctx(t), 0); err != nil || cur != 5 {
		t.Errorf("cursor after DecideClaim = %d, %v; want 5", cur, err)
	}
	got := leased[0]
	stored := listActions(t, s, store.ActionFilter{Rule: "r", Outcome: store.ActionPending})
	var row store.Action
	for _, a := range stored {
		if a.Key == "now" {
			row = a
		}
	}
	if !reflect.DeepEqual(got, row) || got.Attempts != 1 || got.Interrupted {
		t.Errorf("leased action\n %+v\nwant the stored row, first attempt, not interrupted:\n %+v", got, row)
	}
	b := claimActions(t, s, "b")
	if !reflect.DeepEqual(actionKeys(b), []string{"old", "unasked"}) {
		t.Errorf("claim b = %v, want the actions not leased that are due: [old unasked]", actionKeys(b))
	}
	for _, a := range b {
		if err := s.FinishActions(ctx(t), "b", []store.ActionResult{{ID: a.ID, Outcome: store.ActionDone}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FinishActions(ctx(t), "a", []store.ActionResult{{ID: got.ID, Outcome: store.ActionDryRun, Request: "add p1"}}); err != nil {
		t.Fatal(err)
	}
	if done := listActions(t, s, store.ActionFilter{Outcome: store.ActionDryRun}); len(done) != 1 || done[0].Key != "now" || done[0].Request != "add p1" {
		t.Errorf("after the holder finished: %+v, want now recorded dry-run", done)
	}
	// A lease that runs out is taken by the next claim, as interrupted.
	ds = []store.Decision{{Key: "crashed", Rule: "r", Action: "pause", Target: "s9", Lease: true}}
	if leased, err = s.DecideClaim(ctx(t), nil, ds, "a", lease); err != nil || len(leased) != 1 {
		t.Fatalf("DecideClaim(crashed) = %v, %v; want it leased", actionKeys(leased), err)
	}
	if c := claimActions(t, s, "c"); len(c) != 0 {
		t.Errorf("claim while a holds crashed = %v, want none", actionKeys(c))
	}
	clock.Advance(lease + time.Second)
	c := claimActions(t, s, "c")
	if len(c) != 1 || c[0].Key != "crashed" || !c[0].Interrupted || c[0].Attempts != 2 {
		t.Errorf("claim after the lease ran out = %+v, want crashed, interrupted, attempt 2", c)
	}
}

// testRulesDecideSettled: a decision recorded Settled is finished at once
// with its outcome, request and reason, attempts 0, is returned by
// DecideClaim and never claimed; recorded again, it is not returned.
func testRulesDecideSettled(t *testing.T, open OpenFunc) {
	s, clock := rulesStore(t, open)
	d := store.Decision{Key: "dry", Rule: "r", Action: "group_add", Target: "p1", Batch: "group:g", Lease: true,
		Settled: &store.ActionResult{Outcome: store.ActionDryRun, Request: "add [1: p1]", Reason: "RECEIVER_ACTIONS is dry-run"}}
	got, err := s.DecideClaim(ctx(t), nil, []store.Decision{d}, "a", lease)
	if err != nil || len(got) != 1 {
		t.Fatalf("DecideClaim = %v, %v; want the settled action", actionKeys(got), err)
	}
	rows := listActions(t, s, store.ActionFilter{})
	if len(rows) != 1 || !reflect.DeepEqual(got[0], rows[0]) {
		t.Fatalf("returned %+v\nstored %+v; want the same", got, rows)
	}
	a := rows[0]
	if a.Outcome != store.ActionDryRun || a.Request != "add [1: p1]" || a.Reason != "RECEIVER_ACTIONS is dry-run" ||
		a.Attempts != 0 || !a.FinishedAt.Equal(clock.Now()) {
		t.Errorf("settled action %+v, want dry-run with its request and reason, no attempt, finished now", a)
	}
	clock.Advance(lease + time.Second)
	if c := claimActions(t, s, "b"); len(c) != 0 {
		t.Errorf("claimed a settled action: %v", actionKeys(c))
	}
	if again, err := s.DecideClaim(ctx(t), nil, []store.Decision{d}, "a", lease); err != nil || len(again) != 0 {
		t.Errorf("DecideClaim(again) = %v, %v; want nothing new", actionKeys(again), err)
	}
}
