package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// TestUnknownStudyDigestIsOnePerRule: without an API token the study of a
// submission is never learnt; 300 submissions awaiting review are still one
// message (the rule's digest of events whose study is unknown), not 300.
func TestUnknownStudyDigestIsOnePerRule(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		r := startedRig(t, st, clock, parse(t, exampleRules), ModeLive, &fakeProlific{}, &fakeSender{})
		for i := range 300 {
			save(t, st, storetest.NewEvent("submission.status.change", fmt.Sprintf("sub-%d", i), "AWAITING REVIEW", clock.Now()))
		}
		r.settle(t)
		clock.Advance(30 * time.Second)
		r.settle(t)
		as := actions(t, st, store.ActionFilter{Rule: "review-digest"})
		if len(as) != 1 || as[0].Count != 300 || as[0].StudyID != "" {
			t.Fatalf("actions = %d (first %+v), want one digest of 300 without a study", len(as), as[0])
		}
		msgs := r.sender.Messages()
		if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "300 submissions now AWAITING REVIEW") {
			t.Fatalf("messages = %+v, want one digest of 300", msgs)
		}
	})
}

// TestEventsNoRuleNamesDoNotWait: a submission event whose status no rule
// names is passed over at once, not held for StudyWait while its study is
// looked up; the events after it are decided on without delay.
func TestEventsNoRuleNamesDoNotWait(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		r := startedRig(t, st, clock, parse(t, exampleRules), ModeLive, &fakeProlific{}, &fakeSender{})
		r.eng.opts.StudyWait = time.Minute
		save(t, st, storetest.NewEvent("submission.status.change", "sub-1", "ACTIVE", clock.Now())) // no rule names ACTIVE
		save(t, st, storetest.NewEvent("study.progress.change", "study-1", "", clock.Now()))        // nor progress
		save(t, st, storetest.NewEvent("study.has_high_return_rate", "study-1", "", clock.Now()))   // pause
		r.settle(t)
		as := actions(t, st, store.ActionFilter{})
		if len(as) != 1 || as[0].Rule != "pause-on-high-return-rate" || as[0].Outcome != store.ActionDone {
			t.Fatalf("actions = %+v, want the pause carried out at once", as)
		}
		// A submission event a rule names still waits for its study.
		save(t, st, storetest.NewEvent("submission.status.change", "sub-2", "APPROVED", clock.Now()))
		r.settle(t)
		if n := len(actions(t, st, store.ActionFilter{})); n != 1 {
			t.Fatalf("%d actions: the approval was decided before StudyWait", n)
		}
		clock.Advance(2 * time.Minute)
		r.settle(t)
		if n := len(actions(t, st, store.ActionFilter{Rule: "follow-up-group"})); n != 1 {
			t.Fatalf("%d follow-up-group actions after StudyWait, want 1", n)
		}
	})
}

// TestDryRunRecordsTheBatchRequest: dry-run records what live would send:
// participants approved together are one participant-group request, and
// each row says so.
func TestDryRunRecordsTheBatchRequest(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		r := startedRig(t, st, clock, parse(t, exampleRules), ModeDryRun, &fakeProlific{}, &fakeSender{})
		for i := range 3 {
			save(t, st, submission(fmt.Sprintf("sub-%d", i), "study-1", "APPROVED", clock.Now()))
		}
		r.settle(t)
		as := actions(t, st, store.ActionFilter{Rule: "follow-up-group"})
		if len(as) != 3 {
			t.Fatalf("%d follow-up-group actions, want 3", len(as))
		}
		for _, a := range as {
			if a.Outcome != store.ActionDryRun || !strings.Contains(a.Request, "participant-groups/group-1/participants/") ||
				!strings.Contains(a.Request, "[3: ") {
				t.Errorf("action %d: outcome %s, request %q; want dry-run with the batch of 3", a.ID, a.Outcome, a.Request)
			}
		}
		if c := r.pro.Calls(); len(c) != 0 {
			t.Errorf("dry-run called Prolific: %+v", c)
		}
	})
}

// feedArrivals is a store on which an event arrives while the evaluator
// reads the feed (after its first read), and which counts decision
// transactions.
type feedArrivals struct {
	store.Store
	t       *testing.T
	arrive  *store.Event
	feeds   int
	decides int
}

func (f *feedArrivals) Feed(ctx context.Context, ff store.FeedFilter) (store.FeedPage, error) {
	p, err := f.Store.Feed(ctx, ff)
	f.feeds++
	if f.feeds == 1 && f.arrive != nil {
		save(f.t, f.Store, f.arrive)
	}
	return p, err
}

func (f *feedArrivals) DecideClaim(ctx context.Context, c *store.RuleCursor, ds []store.Decision, owner string,
	lease time.Duration) ([]store.Action, error) {
	f.decides++
	return f.Store.DecideClaim(ctx, c, ds, owner, lease)
}

// TestEvaluatorWaitsForItsPoll: an evaluation pass that read the feed to
// its end returns, even though events arrived meanwhile: under load the
// engine runs one decision transaction a poll, not one per handful of
// events (each takes SQLite's single writer from the webhook path). What
// arrived is decided on by the next pass.
func TestEvaluatorWaitsForItsPoll(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := &feedArrivals{Store: open(t), t: t}
		r := startedRig(t, st, clock, parse(t, exampleRules), ModeDryRun, &fakeProlific{}, &fakeSender{})
		save(t, st, storetest.NewEvent("study.has_high_return_rate", "study-1", "", clock.Now()))
		st.feeds, st.decides = 0, 0
		st.arrive = storetest.NewEvent("study.has_high_return_rate", "study-2", "", clock.Now())
		r.evaluate(t)
		if st.feeds != 1 || st.decides != 1 {
			t.Fatalf("one pass read the feed %d times and decided %d times, want once each", st.feeds, st.decides)
		}
		if as := actions(t, st, store.ActionFilter{}); len(as) != 1 || as[0].StudyID != "study-1" {
			t.Fatalf("actions after the first pass = %+v, want study-1's pause only", as)
		}
		st.arrive = nil
		r.settle(t)
		if as := actions(t, st, store.ActionFilter{}); len(as) != 2 {
			t.Fatalf("%d actions after the next pass, want study-2's pause too", len(as))
		}
	})
}

// TestMergeDecisionsFoldsDigests checks a page's digest decisions of one
// group become one (events up to store.MaxActionEvents, every one counted,
// the last Detail kept and encoded) and a key decided twice is kept once.
func TestMergeDecisionsFoldsDigests(t *testing.T) {
	var ds []decided
	for i := range store.MaxActionEvents + 20 {
		ds = append(ds, decided{Decision: store.Decision{Rule: "digest", Digest: time.Minute, DigestGroup: "digest/notify/s1",
			EventIDs: []string{fmt.Sprint("ev-", i)}, Count: 1}, det: Detail{Trigger: TriggerEvent, Seq: int64(i)}})
		if i%50 == 0 {
			ds = append(ds, decided{Decision: store.Decision{Key: "pause/s1", Rule: "pause"}, det: Detail{Seq: int64(i)}})
		}
	}
	got := mergeDecisions(ds)
	if len(got) != 2 {
		t.Fatalf("%d decisions, want the digest and one pause: %+v", len(got), got)
	}
	dg, p := got[0], got[1]
	if dg.Count != store.MaxActionEvents+20 || len(dg.EventIDs) != store.MaxActionEvents || dg.EventIDs[0] != "ev-0" {
		t.Errorf("digest: count %d, %d event IDs starting %q; want %d, %d, ev-0", dg.Count, len(dg.EventIDs), dg.EventIDs[0],
			store.MaxActionEvents+20, store.MaxActionEvents)
	}
	var det Detail
	if err := json.Unmarshal([]byte(dg.Detail), &det); err != nil || det.Seq != store.MaxActionEvents+19 {
		t.Errorf("digest Detail %q (%v), want the last decision's (seq %d)", dg.Detail, err, store.MaxActionEvents+19)
	}
	if p.Key != "pause/s1" || p.Detail != (Detail{}).json() {
		t.Errorf("pause decision %+v, want the first one, its Detail encoded", p)
	}
	if ds[0].EventIDs[0] != "ev-0" || len(ds[0].EventIDs) != 1 {
		t.Errorf("the first decision's event IDs were changed: %v", ds[0].EventIDs)
	}
}
