package rules

import (
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
		r := newRig(t, st, clock, parse(t, exampleRules), ModeLive, &fakeProlific{}, &fakeSender{})
		if err := r.eng.EvaluateEvents(testCtx(t)); err != nil {
			t.Fatal(err)
		}
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
		r := newRig(t, st, clock, parse(t, exampleRules), ModeLive, &fakeProlific{}, &fakeSender{})
		r.eng.opts.StudyWait = time.Minute
		if err := r.eng.EvaluateEvents(testCtx(t)); err != nil {
			t.Fatal(err)
		}
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
		r := newRig(t, st, clock, parse(t, exampleRules), ModeDryRun, &fakeProlific{}, &fakeSender{})
		if err := r.eng.EvaluateEvents(testCtx(t)); err != nil {
			t.Fatal(err)
		}
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
