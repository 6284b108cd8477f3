package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

const triggerRules = `
notifiers:
  - name: slack
    type: slack
    url: ${SLACK_WEBHOOK_URL}
rules:
  - name: stale-review
    trigger:
      awaiting_review: {count: 3, older_than: 24h}
    action:
      type: notify
      notifier: slack
      window: 12h
  - name: return-spiral
    trigger:
      return_share: {last: 10, above: 0.3}
    action:
      type: pause
  - name: subscription-off
    trigger:
      health: subscription_disabled
    action:
      type: notify
      notifier: slack
  - name: corrections
    trigger:
      health: reconcile_corrections
    action:
      type: notify
      notifier: slack
  - name: completed-to-lab
    trigger:
      study_status: [COMPLETED]
    action:
      type: forward
      output: lab
`

func decideAll(t *testing.T, r *rig) {
	t.Helper()
	r.evaluate(t)
	if err := r.eng.EvaluatePeriodic(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// TestTriggers: awaiting review too long (once per window), the return
// share of the last N submissions, a disabled subscription from the
// receiver's metrics, reconcile corrections, and a study reaching a status
// forwarded to an output.
func TestTriggers(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		reg := prometheus.NewRegistry()
		enabled := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "receiver_subscription_enabled", Help: "h"}, []string{"event_type"})
		reg.MustRegister(enabled)
		enabled.WithLabelValues("submission.status.change").Set(1)
		enabled.WithLabelValues("study.status.change").Set(1)

		st := open(t)
		sender := &fakeSender{}
		r := newRig(t, st, clock, parse(t, triggerRules), ModeLive, &fakeProlific{}, sender)
		r.eng.opts.Signals = GatherSignals(reg)
		decideAll(t, r)

		// Three submissions awaiting review, two of them for over a day.
		for i := range 3 {
			at := clock.Now().Add(-23 * time.Hour)
			if i < 2 {
				at = clock.Now().Add(-25 * time.Hour)
			}
			save(t, st, submission(fmt.Sprintf("wait-%d", i), "study-a", "AWAITING REVIEW", at))
		}
		// Ten submissions of study-b, three returned, one timed out: 40 %.
		for i := range 10 {
			status := "APPROVED"
			switch {
			case i < 3:
				status = "RETURNED"
			case i == 3:
				status = "TIMED-OUT"
			}
			save(t, st, submission(fmt.Sprintf("b-%d", i), "study-b", status, clock.Now()))
		}
		// Nine of study-c, all returned: fewer than last, no decision.
		for i := range 9 {
			save(t, st, submission(fmt.Sprintf("c-%d", i), "study-c", "RETURNED", clock.Now()))
		}
		corr := storetest.NewEvent("submission.status.change", "corr-1", "APPROVED", clock.Now())
		corr.Source = store.SourceReconcile
		save(t, st, corr)
		done := storetest.NewEvent("study.status.change", "study-d", "COMPLETED", clock.Now())
		save(t, st, done)
		decideAll(t, r)
		count := func(rule string) int {
			return len(actions(t, st, store.ActionFilter{Rule: rule}))
		}
		if n := count("stale-review"); n != 0 {
			t.Errorf("stale-review decided %d with only 2 submissions waiting over a day", n)
		}
		if n := count("return-spiral"); n != 1 {
			t.Errorf("return-spiral decided %d, want 1 (study-b at 40%%; study-c has fewer than 10)", n)
		}
		if as := actions(t, st, store.ActionFilter{Rule: "return-spiral"}); len(as) == 1 && as[0].StudyID != "study-b" {
			t.Errorf("return-spiral acted on %s, want study-b", as[0].StudyID)
		}
		if n := count("corrections"); n != 1 {
			t.Errorf("corrections decided %d, want 1", n)
		}
		if n := count("subscription-off"); n != 0 {
			t.Errorf("subscription-off decided %d while every subscription is enabled", n)
		}
		clock.Advance(2 * time.Hour) // the third one passes a day too
		enabled.WithLabelValues("submission.status.change").Set(0)
		decideAll(t, r)
		decideAll(t, r) // again in the same window: nothing new
		if n := count("stale-review"); n != 1 {
			t.Errorf("stale-review decided %d, want 1", n)
		}
		if as := actions(t, st, store.ActionFilter{Rule: "subscription-off"}); len(as) != 1 || !strings.Contains(as[0].Key, "submission.status.change") {
			t.Errorf("subscription-off = %+v, want one about submission.status.change", as)
		}
		clock.Advance(12 * time.Hour) // the next window: once more
		decideAll(t, r)
		if n := count("stale-review"); n != 2 {
			t.Errorf("stale-review decided %d after a new window, want 2", n)
		}
		for range 3 {
			if _, err := r.eng.ExecuteDue(testCtx(t)); err != nil {
				t.Log(err)
			}
		}
		var texts []string
		for _, m := range sender.Messages() {
			texts = append(texts, m.Subject+" | "+m.Text)
		}
		all := strings.Join(texts, "\n")
		for _, want := range []string{"3 submission(s) have been AWAITING REVIEW for longer than 24h0m0s",
			"Prolific's webhook subscription is disabled (submission.status.change)", "the reconciler corrected the store"} {
			if !strings.Contains(all, want) {
				t.Errorf("messages lack %q:\n%s", want, all)
			}
		}
		fwd := actions(t, st, store.ActionFilter{Rule: "completed-to-lab"})
		if len(fwd) != 1 || fwd[0].Outcome != store.ActionDone {
			t.Errorf("forward = %+v, want one done", fwd)
		}
		items, err := st.ClaimOutbox(testCtx(t), "lab", "test", 10, time.Minute, true)
		if err != nil || len(items) != 1 || items[0].Event == nil || items[0].Event.ID != done.ID {
			t.Errorf("outbox of lab = %+v, %v; want the completed study's event", items, err)
		}
	})
}
