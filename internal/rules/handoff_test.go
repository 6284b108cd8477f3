package rules

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

const handoffRules = exampleRules + `  - name: completed
    trigger:
      study_status: [COMPLETED]
    action:
      type: notify
      notifier: slack
`

// TestDecidedActionsRunWithoutAClaim: an action due as it is decided is
// leased in the decision's transaction and carried out from the hand-off,
// with no claim of its own; a live notification is not leased (should the
// receiver stop before it is sent, it is sent later rather than taken as
// interrupted and dropped) and is claimed as before.
func TestDecidedActionsRunWithoutAClaim(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		r := startedRig(t, st, clock, parse(t, handoffRules), ModeLive, &fakeProlific{}, &fakeSender{})
		save(t, st, storetest.NewEvent("study.has_high_return_rate", "study-1", "", clock.Now()))
		save(t, st, submission("sub-1", "study-1", "APPROVED", clock.Now()))
		save(t, st, storetest.NewEvent("study.status.change", "study-2", "COMPLETED", clock.Now()))
		r.evaluate(t)
		handed := r.eng.handed.take()
		var kinds []string
		for _, l := range handed {
			for _, a := range l.actions {
				kinds = append(kinds, a.Action)
			}
		}
		if !slices.Equal(kinds, []string{ActionPause, ActionGroupAdd}) {
			t.Fatalf("leased as decided: %v, want the pause and the group addition (not the notification)", kinds)
		}
		for _, l := range handed {
			r.eng.handed.put(l)
		}
		n, err := r.eng.ExecuteDue(testCtx(t))
		if err != nil || n != 1 {
			t.Fatalf("ExecuteDue claimed %d (%v), want the notification only", n, err)
		}
		if c := r.pro.Calls(); len(c) != 2 {
			t.Errorf("Prolific calls %+v, want the pause and the group addition", c)
		}
		if m := r.sender.Messages(); len(m) != 1 {
			t.Errorf("%d messages, want the study's completion", len(m))
		}
		for _, a := range actions(t, st, store.ActionFilter{}) {
			if a.Outcome != store.ActionDone || a.Attempts != 1 {
				t.Errorf("action %s %s: %s after %d attempts, want done after one", a.Rule, a.Action, a.Outcome, a.Attempts)
			}
		}
	})
}

// TestStoppedWorkerHandsLeasedActionsBack: actions leased as they were
// decided but not started when the engine stops are handed back, so the
// next claim takes them as not interrupted (a pause is then sent without
// first asking Prolific whether it went through).
func TestStoppedWorkerHandsLeasedActionsBack(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		r := startedRig(t, st, clock, parse(t, exampleRules), ModeLive, &fakeProlific{}, &fakeSender{})
		save(t, st, storetest.NewEvent("study.has_high_return_rate", "study-1", "", clock.Now()))
		r.evaluate(t)
		if got, _ := st.ClaimActions(testCtx(t), "other", 10, time.Minute); len(got) != 0 {
			t.Fatalf("another worker claimed %+v while the pause was leased", got)
		}
		ctx, cancel := context.WithCancel(testCtx(t))
		cancel()
		r.eng.runActions(ctx) // stopped before it started anything
		got, err := st.ClaimActions(testCtx(t), "other", 10, time.Minute)
		if err != nil || len(got) != 1 || got[0].Action != ActionPause || got[0].Interrupted {
			t.Fatalf("claim after the stop = %+v, %v; want the pause, not interrupted", got, err)
		}
		if c := r.pro.Calls(); len(c) != 0 {
			t.Errorf("the stopped worker called Prolific: %+v", c)
		}
	})
}

// TestDryRunSettledAtDecision: an action that sends nothing and is due at
// once is recorded finished (dry-run, its batch's request, why) by the
// decision itself, counted in the metrics, and never leased or claimed; a
// live one is leased for the worker instead.
func TestDryRunSettledAtDecision(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		r := startedRig(t, st, clock, parse(t, exampleRules), ModeDryRun, &fakeProlific{}, &fakeSender{})
		for i := range 3 {
			save(t, st, submission(fmt.Sprint("sub-", i), "study-1", "APPROVED", clock.Now()))
		}
		r.evaluate(t)
		if h := r.eng.handed.take(); len(h) != 0 {
			t.Errorf("handed to the worker: %+v, want nothing (settled)", h)
		}
		as := actions(t, st, store.ActionFilter{})
		if len(as) != 3 {
			t.Fatalf("%d actions, want 3", len(as))
		}
		for _, a := range as {
			if a.Outcome != store.ActionDryRun || a.Attempts != 0 || !strings.Contains(a.Request, "[3: ") || a.Reason == "" {
				t.Errorf("action %s: %s, %d attempts, request %q, reason %q; want dry-run, none, the batch of 3, why",
					a.Key, a.Outcome, a.Attempts, a.Request, a.Reason)
			}
		}
		if n := testutil.ToFloat64(r.eng.opts.Metrics.actions.WithLabelValues("follow-up-group", ActionGroupAdd, store.ActionDryRun)); n != 3 {
			t.Errorf("receiver_rule_actions_total{outcome=dry-run} = %v, want 3", n)
		}
		live := startedRig(t, st, clock, parse(t, exampleRules), ModeLive, &fakeProlific{}, &fakeSender{})
		save(t, st, submission("sub-9", "study-1", "APPROVED", clock.Now()))
		live.evaluate(t)
		if h := live.eng.handed.take(); len(h) != 1 || len(h[0].actions) != 1 || h[0].actions[0].Outcome != store.ActionPending {
			t.Errorf("live: handed %+v, want the group addition, pending", h)
		}
	})
}
