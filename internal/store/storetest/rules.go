package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// rulesStore opens a store with a manual clock at T0.
func rulesStore(t *testing.T, open OpenFunc) (store.Store, *Clock) {
	clock := NewClock(T0)
	return open(t, store.Options{Now: clock.Now}), clock
}

func decide(t *testing.T, s store.Store, cursor *store.RuleCursor, ds ...store.Decision) int {
	t.Helper()
	n, err := s.Decide(ctx(t), cursor, ds)
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	return n
}

func listActions(t *testing.T, s store.Store, f store.ActionFilter) []store.Action {
	t.Helper()
	as, err := s.Actions(ctx(t), f)
	if err != nil {
		t.Fatalf("Actions(%+v): %v", f, err)
	}
	return as
}

func claimActions(t *testing.T, s store.Store, owner string) []store.Action {
	t.Helper()
	as, err := s.ClaimActions(ctx(t), owner, 100, lease)
	if err != nil {
		t.Fatalf("ClaimActions(%s): %v", owner, err)
	}
	return as
}

func actionKeys(as []store.Action) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.Key)
	}
	return out
}

// testRulesDecideOnce: a decision key is recorded once, however often it
// is decided, and the row keeps what the first decision said.
func testRulesDecideOnce(t *testing.T, open OpenFunc) {
	s, _ := rulesStore(t, open)
	d := store.Decision{Key: "pause-high/pause/study-a/w1", Rule: "pause-high", Action: "pause", StudyID: "study-a",
		Target: "study-a", EventIDs: []string{"e1"}, Detail: `{"n":1}`}
	if n := decide(t, s, nil, d, d); n != 1 {
		t.Errorf("Decide(twice in one call) = %d new, want 1", n)
	}
	d2 := d
	d2.EventIDs = []string{"e2"}
	if n := decide(t, s, nil, d2); n != 0 {
		t.Errorf("Decide(again) = %d new, want 0", n)
	}
	as := listActions(t, s, store.ActionFilter{})
	if len(as) != 1 {
		t.Fatalf("Actions = %d rows, want 1", len(as))
	}
	a := as[0]
	if a.Outcome != store.ActionPending || a.Rule != "pause-high" || a.StudyID != "study-a" || a.Count != 1 ||
		len(a.EventIDs) != 1 || a.EventIDs[0] != "e1" || a.Detail != `{"n":1}` || !a.DueAt.Equal(T0) {
		t.Errorf("action = %+v, want pending pause-high on study-a, event e1, due T0", a)
	}
}

// testRulesCursor: the cursor starts where asked the first time only, and
// a Decide whose cursor moved records nothing.
func testRulesCursor(t *testing.T, open OpenFunc) {
	s, _ := rulesStore(t, open)
	for _, start := range []int64{5, 9} {
		got, err := s.RulesCursor(ctx(t), start)
		if err != nil || got != 5 {
			t.Fatalf("RulesCursor(%d) = %d, %v; want 5", start, got, err)
		}
	}
	decide(t, s, &store.RuleCursor{From: 5, To: 7}, store.Decision{Key: "a", Rule: "r", Action: "notify"})
	_, err := s.Decide(ctx(t), &store.RuleCursor{From: 5, To: 8}, []store.Decision{{Key: "b", Rule: "r", Action: "notify"}})
	if !errors.Is(err, store.ErrCursorMoved) {
		t.Fatalf("Decide(stale cursor) = %v, want ErrCursorMoved", err)
	}
	if got, _ := s.RulesCursor(ctx(t), 0); got != 7 {
		t.Errorf("cursor = %d, want 7", got)
	}
	if d := diff([]string{"a"}, actionKeys(listActions(t, s, store.ActionFilter{}))); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
}

// testRulesCursorRace: evaluators deciding on the same events at once
// (replicas) record them once.
func testRulesCursorRace(t *testing.T, open OpenFunc) {
	s, _ := rulesStore(t, open)
	if _, err := s.RulesCursor(ctx(t), 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := store.Decision{Key: fmt.Sprintf("k%d", i), Rule: "r", Action: "notify", Digest: time.Minute,
				DigestGroup: "r/notify/study-a", EventIDs: []string{"e1"}}
			_, err := s.Decide(ctx(t), &store.RuleCursor{From: 0, To: 10}, []store.Decision{d})
			switch {
			case err == nil:
				mu.Lock()
				won++
				mu.Unlock()
			case !errors.Is(err, store.ErrCursorMoved):
				t.Errorf("Decide: %v", err)
			}
		}()
	}
	wg.Wait()
	as := listActions(t, s, store.ActionFilter{})
	if won != 1 || len(as) != 1 || as[0].Count != 1 {
		t.Errorf("%d deciders won, %d actions (%+v); want 1 winner, 1 action counting 1 event", won, len(as), as)
	}
}

// testRulesDigest: a digest gathers decisions while it waits; once a
// worker picked it up, the next one is due a window after it.
func testRulesDigest(t *testing.T, open OpenFunc) {
	s, clock := rulesStore(t, open)
	dg := func(ev string) store.Decision {
		return store.Decision{Rule: "digest", Action: "notify", StudyID: "study-a", EventIDs: []string{ev},
			Digest: 10 * time.Minute, DigestGroup: "digest/notify/study-a", DueAt: clock.Now().Add(30 * time.Second)}
	}
	if n := decide(t, s, nil, dg("e1"), dg("e2")); n != 1 {
		t.Errorf("first digest decisions = %d new, want 1", n)
	}
	decide(t, s, nil, dg("e3"), dg("e3"))
	if got := claimActions(t, s, "w"); len(got) != 0 {
		t.Fatalf("claimed %d before the digest is due, want 0", len(got))
	}
	clock.Advance(30 * time.Second)
	got := claimActions(t, s, "w")
	if len(got) != 1 || got[0].Count != 4 || len(got[0].EventIDs) != 3 {
		t.Fatalf("claimed %+v, want one digest counting 4 events (e1 e2 e3)", got)
	}
	first := got[0]
	// Events arriving while it is being sent start the next digest.
	if n := decide(t, s, nil, dg("e4")); n != 1 {
		t.Errorf("decision during sending = %d new, want 1", n)
	}
	if err := s.FinishActions(ctx(t), "w", []store.ActionResult{{ID: first.ID, Outcome: store.ActionDone, Response: "ok"}}); err != nil {
		t.Fatal(err)
	}
	decide(t, s, nil, dg("e5"))
	as := listActions(t, s, store.ActionFilter{})
	if len(as) != 2 {
		t.Fatalf("actions = %d, want 2", len(as))
	}
	next := as[0]
	if want := first.DueAt.Add(10 * time.Minute); !next.DueAt.Equal(want) || next.Count != 2 {
		t.Errorf("next digest due %v counting %d, want due %v counting 2", next.DueAt, next.Count, want)
	}
	if as[1].Outcome != store.ActionDone || as[1].Response != "ok" || as[1].FinishedAt.IsZero() {
		t.Errorf("first digest = %+v, want done with its response", as[1])
	}
}

// testRulesLease: one holder at a time; a lease that ran out marks the
// next claim interrupted; only the holder finishes or retries.
func testRulesLease(t *testing.T, open OpenFunc) {
	s, clock := rulesStore(t, open)
	decide(t, s, nil, store.Decision{Key: "k1", Rule: "r", Action: "pause", StudyID: "s1"},
		store.Decision{Key: "k2", Rule: "r", Action: "pause", StudyID: "s2", DueAt: T0.Add(time.Hour)})
	a := claimActions(t, s, "a")
	if len(a) != 1 || a[0].Key != "k1" || a[0].Attempts != 1 || a[0].Interrupted {
		t.Fatalf("claim a = %+v, want k1, first attempt, not interrupted", a)
	}
	if b := claimActions(t, s, "b"); len(b) != 0 {
		t.Fatalf("claim b while a holds it = %+v, want none", b)
	}
	clock.Advance(lease + time.Second)
	b := claimActions(t, s, "b")
	if len(b) != 1 || b[0].Key != "k1" || !b[0].Interrupted || b[0].Attempts != 2 {
		t.Fatalf("claim b after a's lease = %+v, want k1 interrupted, attempt 2", b)
	}
	if err := s.FinishActions(ctx(t), "a", []store.ActionResult{{ID: a[0].ID, Outcome: store.ActionDone}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RetryActions(ctx(t), "b", []int64{b[0].ID}, clock.Now().Add(time.Minute), "prolific: 503"); err != nil {
		t.Fatal(err)
	}
	got := listActions(t, s, store.ActionFilter{Outcome: store.ActionPending})
	if len(got) != 2 || got[1].Reason != "prolific: 503" {
		t.Fatalf("pending = %+v, want both, k1 with its retry reason", got)
	}
	clock.Advance(time.Minute)
	c := claimActions(t, s, "c")
	if len(c) != 1 || c[0].Interrupted {
		t.Fatalf("claim after retry = %+v, want k1 not interrupted", c)
	}
	if err := s.FinishActions(ctx(t), "c", []store.ActionResult{{ID: c[0].ID, Outcome: store.ActionFailed, Reason: "gave up"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishActions(ctx(t), "c", []store.ActionResult{{ID: c[0].ID, Outcome: store.ActionPending}}); err == nil {
		t.Error("FinishActions(pending) = nil, want an error")
	}
	failed := listActions(t, s, store.ActionFilter{Outcome: store.ActionFailed})
	if len(failed) != 1 || failed[0].Reason != "gave up" || failed[0].Attempts != 3 {
		t.Errorf("failed = %+v, want k1 after 3 attempts", failed)
	}
}

// testRulesList: newest first, filters combine, paging by ID.
func testRulesList(t *testing.T, open OpenFunc) {
	s, _ := rulesStore(t, open)
	for i := range 5 {
		rule := "r1"
		if i%2 == 1 {
			rule = "r2"
		}
		decide(t, s, nil, store.Decision{Key: fmt.Sprintf("k%d", i), Rule: rule, Action: "notify", StudyID: fmt.Sprintf("s%d", i%3)})
	}
	if d := diff([]string{"k4", "k3", "k2", "k1", "k0"}, actionKeys(listActions(t, s, store.ActionFilter{}))); d != "" {
		t.Errorf("all (-want +got):\n%s", d)
	}
	if d := diff([]string{"k4", "k2", "k0"}, actionKeys(listActions(t, s, store.ActionFilter{Rule: "r1"}))); d != "" {
		t.Errorf("rule r1 (-want +got):\n%s", d)
	}
	if d := diff([]string{"k3", "k0"}, actionKeys(listActions(t, s, store.ActionFilter{StudyID: "s0"}))); d != "" {
		t.Errorf("study s0 (-want +got):\n%s", d)
	}
	page := listActions(t, s, store.ActionFilter{Limit: 2})
	next := listActions(t, s, store.ActionFilter{Limit: 2, BeforeID: page[1].ID})
	if d := diff([]string{"k2", "k1"}, actionKeys(next)); d != "" {
		t.Errorf("second page (-want +got):\n%s", d)
	}
	if got := listActions(t, s, store.ActionFilter{Outcome: store.ActionDone}); len(got) != 0 {
		t.Errorf("done = %d, want 0", len(got))
	}
}

// testRulesForward: a forwarded event is queued for the output like a
// matching one; an event not stored is ErrNotFound.
func testRulesForward(t *testing.T, open OpenFunc) {
	clock := NewClock(T0)
	s := open(t, store.Options{Now: clock.Now, Outputs: []store.Output{{Name: "picked", Filter: store.OutputFilter{EventTypes: []string{"none"}}}}})
	e := NewEvent(studyStatus, "study-x", "ACTIVE", at(1))
	mustSave(t, s, e, store.Stored)
	if err := s.ForwardEvent(ctx(t), "picked", e.Seq); err != nil {
		t.Fatalf("ForwardEvent: %v", err)
	}
	if d := diff([]string{e.ID}, itemEvents(claimOutbox(t, s, "picked", "w", true))); d != "" {
		t.Errorf("queued (-want +got):\n%s", d)
	}
	if err := s.ForwardEvent(ctx(t), "picked", e.Seq+100); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ForwardEvent(missing) = %v, want ErrNotFound", err)
	}
}
