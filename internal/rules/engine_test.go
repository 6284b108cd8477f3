package rules

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// exampleRules are deploy/rules.example.yaml's three rules.
const exampleRules = `
notifiers:
  - name: slack
    type: slack
    url: ${SLACK_WEBHOOK_URL}
rules:
  - name: pause-on-high-return-rate
    trigger:
      event_type: study.has_high_return_rate
    action:
      type: pause
  - name: follow-up-group
    trigger:
      event_type: submission.status.change
      statuses: [APPROVED]
    action:
      type: group_add
      group_id: ${FOLLOWUP_GROUP_ID}
  - name: review-digest
    trigger:
      event_type: submission.status.change
      statuses: [AWAITING REVIEW]
    action:
      type: notify
      notifier: slack
      digest: 10m
`

// submission returns a submission event of study with status.
func submission(id, study, status string, at time.Time) *store.Event {
	e := storetest.NewEvent("submission.status.change", id, status, at)
	e.StudyID = study
	return e
}

// scenario stores a high return rate for study-1, three approvals and five
// submissions awaiting review, and returns the events.
func scenario(t *testing.T, st store.Store, now time.Time) []*store.Event {
	events := []*store.Event{storetest.NewEvent("study.has_high_return_rate", "study-1", "", now)}
	for i := range 3 {
		events = append(events, submission(fmt.Sprintf("sub-ok-%d", i), "study-1", "APPROVED", now))
	}
	for i := range 5 {
		events = append(events, submission(fmt.Sprintf("sub-wait-%d", i), "study-1", "AWAITING REVIEW", now))
	}
	for _, e := range events {
		save(t, st, e)
	}
	return events
}

func TestDryRunSendsNothingRecordsEverything(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		r := startedRig(t, st, clock, parse(t, exampleRules), ModeDryRun, &fakeProlific{}, &fakeSender{})
		scenario(t, st, clock.Now())
		r.settle(t)
		clock.Advance(time.Minute)
		r.settle(t)
		if c := r.pro.Calls(); len(c) != 0 {
			t.Errorf("dry-run called Prolific: %+v", c)
		}
		if m := r.sender.Messages(); len(m) != 0 {
			t.Errorf("dry-run sent messages: %+v", m)
		}
		as := actions(t, st, store.ActionFilter{})
		want := map[string]int{"pause-on-high-return-rate:dry-run": 1, "follow-up-group:dry-run": 3, "review-digest:dry-run": 1}
		if got := outcomes(as); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("outcomes = %v, want %v", got, want)
		}
		for _, a := range as {
			if a.Request == "" || !strings.Contains(a.Reason, "dry-run") {
				t.Errorf("action %s: request %q reason %q, want the request it would send and why not", a.Key, a.Request, a.Reason)
			}
			if a.Action == ActionNotify && a.Count != 5 {
				t.Errorf("digest counts %d events, want 5", a.Count)
			}
		}
	})
}

// TestLiveExactlyOnce: duplicates, a second decision for the same key, a
// restart (a new engine) and a second replica never repeat an action.
func TestLiveExactlyOnce(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		pro, sender := &fakeProlific{}, &fakeSender{}
		cfg := parse(t, exampleRules)
		r := startedRig(t, st, clock, cfg, ModeLive, pro, sender)
		events := scenario(t, st, clock.Now())
		for _, e := range events { // Prolific's retries and backfill: the same X-Event-ID
			again := *e
			again.Seq, again.Source = 0, store.SourceAPI
			if o := save(t, st, &again); o != store.Duplicate {
				t.Fatalf("second save = %v, want duplicate", o)
			}
		}
		// A second high-return-rate event for the study in the same window.
		save(t, st, storetest.NewEvent("study.has_high_return_rate", "study-1", "", clock.Now().Add(time.Second)))
		r.settle(t)
		clock.Advance(time.Minute)
		r.settle(t)
		// A restart and another replica: fresh engines on the same store.
		for range 2 {
			other := newRig(t, st, clock, cfg, ModeLive, pro, sender)
			other.settle(t)
		}
		calls := pro.Calls()
		want := []string{"transition study-1 PAUSE []", "group group-1  [p-sub-ok-0 p-sub-ok-1 p-sub-ok-2]"}
		var got []string
		for _, c := range calls {
			got = append(got, fmt.Sprintf("%s %s %s %v", c.Kind, c.ID, c.Arg, c.IDs))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Prolific calls:\n got %q\nwant %q", got, want)
		}
		msgs := sender.Messages()
		if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "5 submissions now AWAITING REVIEW") {
			t.Errorf("messages = %+v, want one digest of 5", msgs)
		}
		want2 := map[string]int{"pause-on-high-return-rate:done": 1, "follow-up-group:done": 3, "review-digest:done": 1}
		if got := outcomes(actions(t, st, store.ActionFilter{})); fmt.Sprint(got) != fmt.Sprint(want2) {
			t.Errorf("outcomes = %v, want %v", got, want2)
		}
	})
}

// TestReplicasRunning: two engines running at once on one store while
// events arrive act once per decision.
func TestReplicasRunning(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		st2 := st
		if _, ok := st.(store.Locker); ok { // PostgreSQL: a second connection pool, as a second replica has
			st2 = open(t)
		}
		pro, sender := &fakeProlific{}, &fakeSender{}
		cfg := parse(t, exampleRules)
		a := startedRig(t, st, clock, cfg, ModeLive, pro, sender)
		b := newRig(t, st2, clock, cfg, ModeLive, pro, sender)
		ctx, cancel := context.WithCancel(testCtx(t))
		var wg sync.WaitGroup
		for _, eng := range []*Engine{a.eng, b.eng} {
			wg.Add(1)
			go func() { defer wg.Done(); eng.Run(ctx) }()
		}
		for i := range 40 {
			save(t, st, submission(fmt.Sprintf("sub-%d", i), "study-1", "APPROVED", clock.Now()))
			save(t, st2, storetest.NewEvent("study.has_high_return_rate", "study-1", "", clock.Now()))
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if as := actions(t, st, store.ActionFilter{Outcome: store.ActionDone}); len(as) == 41 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		participants := map[string]int{}
		pauses := 0
		for _, c := range pro.Calls() {
			switch c.Kind {
			case "transition":
				pauses++
			case "group":
				for _, id := range c.IDs {
					participants[id]++
				}
			}
		}
		if pauses != 1 || len(participants) != 40 {
			t.Errorf("%d pauses, %d participants added; want 1 and 40", pauses, len(participants))
		}
		for id, n := range participants {
			if n != 1 {
				t.Errorf("participant %s added %d times", id, n)
			}
		}
	})
}

func TestDigestHoldsUnderBurst(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		r := startedRig(t, st, clock, parse(t, exampleRules), ModeLive, &fakeProlific{}, &fakeSender{})
		var wg sync.WaitGroup
		for i := range 300 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := st.Save(testCtx(t), submission(fmt.Sprintf("burst-%d", i), "study-1", "AWAITING REVIEW", clock.Now())); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		r.settle(t)
		if m := r.sender.Messages(); len(m) != 0 {
			t.Fatalf("sent %d messages before the digest's delay", len(m))
		}
		clock.Advance(30 * time.Second) // within a minute of the first
		r.settle(t)
		msgs := r.sender.Messages()
		if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "300 submissions now AWAITING REVIEW") ||
			!strings.Contains(msgs[0].Subject, "study-1") || strings.Contains(msgs[0].Text, "since the last") {
			t.Fatalf("messages = %+v, want one digest of 300 naming the study", msgs)
		}
		for i := range 7 {
			save(t, st, submission(fmt.Sprintf("later-%d", i), "study-1", "AWAITING REVIEW", clock.Now()))
		}
		clock.Advance(time.Minute)
		r.settle(t)
		if n := len(r.sender.Messages()); n != 1 {
			t.Fatalf("%d messages a minute after the first digest, want still 1", n)
		}
		clock.Advance(9 * time.Minute)
		r.settle(t)
		msgs = r.sender.Messages()
		if len(msgs) != 2 || !strings.Contains(msgs[1].Text, "7 submissions now AWAITING REVIEW") ||
			!strings.Contains(msgs[1].Text, "7 arrived since the last message") {
			t.Fatalf("messages = %+v, want a second digest of 7 ten minutes after the first", msgs)
		}
	})
}

// TestProlificErrorsRetriedThenRecorded: a 429 and a 5xx are retried and the
// action ends done; a refusal ends failed with Prolific's error; so does a
// 5xx that never ends, after the last attempt.
func TestProlificErrorsRetriedThenRecorded(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	cases := []struct {
		name     string
		answers  []int // status per attempt; 0 = success
		outcome  string
		attempts int
		reason   string
	}{
		{"429 then 503 then ok", []int{429, 503, 0}, store.ActionDone, 3, ""},
		{"400 refused", []int{400}, store.ActionFailed, 1, "400 Bad Request: Study is not active"},
		{"503 until the last attempt", []int{503, 503, 503, 503}, store.ActionFailed, 4, "after 4 attempt(s)"},
	}
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				n := 0
				pro := &fakeProlific{fail: func(c call) error {
					status := 0
					if n < len(tc.answers) {
						status = tc.answers[n]
					}
					n++
					if status == 0 {
						return nil
					}
					title := map[int]string{429: "Too Many Requests", 503: "Service Unavailable", 400: "Bad Request"}[status]
					return &prolific.APIError{StatusCode: status, Title: title, Detail: "Study is not active", Endpoint: "studies.transition"}
				}}
				r := startedRig(t, st, clock, parse(t, exampleRules), ModeLive, pro, &fakeSender{})
				study := fmt.Sprintf("study-retry-%d", i)
				save(t, st, storetest.NewEvent("study.has_high_return_rate", study, "", clock.Now()))
				for range 10 {
					r.settle(t)
					clock.Advance(2 * time.Minute)
				}
				as := actions(t, st, store.ActionFilter{StudyID: study})
				if len(as) != 1 {
					t.Fatalf("actions = %+v, want 1", as)
				}
				a := as[0]
				if a.Outcome != tc.outcome || a.Attempts != tc.attempts || !strings.Contains(a.Reason, tc.reason) {
					t.Errorf("action = %s after %d attempts (%q), want %s after %d containing %q", a.Outcome, a.Attempts, a.Reason, tc.outcome, tc.attempts, tc.reason)
				}
				if tc.outcome == store.ActionFailed && !strings.Contains(a.Reason, "prolific studies.transition") {
					t.Errorf("reason %q does not carry Prolific's error", a.Reason)
				}
				if got := len(pro.Calls()); (tc.outcome == store.ActionDone) != (got == 1) {
					t.Errorf("%d successful calls for outcome %s", got, tc.outcome)
				}
			})
		}
	})
}

// TestInterruptedAttempt: an attempt cut short by a crash (its lease ran
// out) is not blindly repeated: a message is not sent twice, a pause is
// checked against the study first.
func TestInterruptedAttempt(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		pro, sender := &fakeProlific{}, &fakeSender{}
		r := startedRig(t, st, clock, parse(t, exampleRules), ModeLive, pro, sender)
		save(t, st, storetest.NewEvent("study.has_high_return_rate", "study-1", "", clock.Now()))
		save(t, st, submission("sub-1", "study-1", "AWAITING REVIEW", clock.Now()))
		r.evaluate(t)
		clock.Advance(time.Minute)
		// The crashed replica claimed both and died.
		if got, err := st.ClaimActions(testCtx(t), "crashed", 10, time.Minute); err != nil || len(got) != 2 {
			t.Fatalf("claim = %d, %v", len(got), err)
		}
		// Its pause had reached Prolific: the study is PAUSED now.
		save(t, st, storetest.NewEvent("study.status.change", "study-1", "PAUSED", clock.Now()))
		clock.Advance(2 * time.Minute)
		r.settle(t)
		if c := pro.Calls(); len(c) != 0 {
			t.Errorf("calls after the interrupted attempt: %+v, want none (the study is paused)", c)
		}
		if m := sender.Messages(); len(m) != 0 {
			t.Errorf("messages after the interrupted attempt: %+v, want none", m)
		}
		got := outcomes(actions(t, st, store.ActionFilter{}))
		want := map[string]int{"pause-on-high-return-rate:skipped": 1, "review-digest:failed": 1}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("outcomes = %v, want %v", got, want)
		}
	})
}

const approveRules = `
rules:
  - name: auto-approve
    trigger:
      event_type: submission.status.change
      statuses: [AWAITING REVIEW]
      study_ids: [study-named]
    action:
      type: approve
      min_age: 48h
`

// TestApproveGuards: approve acts only on the named study, only after
// min_age, only with its own switch as well as live mode, and sends at most
// 1,000 IDs per call, one call after the other.
func TestApproveGuards(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		pro := &fakeProlific{}
		cfg := parse(t, approveRules)
		r := startedRig(t, st, clock, cfg, ModeLive, pro, &fakeSender{})
		off := New(cfg, Options{Mode: ModeLive, Approve: false, Store: st, Prolific: pro, Now: clock.Now, Owner: "off"})
		// Decided while approve's switch is off: recorded as dry-run.
		save(t, st, submission("early", "study-named", "AWAITING REVIEW", clock.Now()))
		if err := off.EvaluateEvents(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		var events []*store.Event
		for i := range 1500 {
			events = append(events, submission(fmt.Sprintf("sub-%04d", i), "study-named", "AWAITING REVIEW", clock.Now()))
		}
		events = append(events, submission("other-1", "study-other", "AWAITING REVIEW", clock.Now()))
		for _, e := range events {
			save(t, st, e)
		}
		r.settle(t)
		clock.Advance(47 * time.Hour)
		r.settle(t)
		if c := pro.Calls(); len(c) != 0 {
			t.Fatalf("approved before min_age: %d calls", len(c))
		}
		// One submission was reviewed by hand meanwhile.
		save(t, st, submission("sub-0007", "study-named", "APPROVED", clock.Now()))
		clock.Advance(time.Hour)
		r.settle(t)
		calls := pro.Calls()
		total := 0
		for _, c := range calls {
			if len(c.IDs) > 1000 {
				t.Errorf("a call carried %d IDs, more than 1,000", len(c.IDs))
			}
			total += len(c.IDs)
		}
		if len(calls) != 2 || total != 1499 {
			t.Fatalf("calls = %v IDs, want 1,499 in two calls", callSizes(calls))
		}
		for _, c := range calls {
			for _, id := range c.IDs {
				if id == "other-1" || id == "early" || id == "sub-0007" {
					t.Errorf("approved %s", id)
				}
			}
		}
		early := actions(t, st, store.ActionFilter{Outcome: store.ActionDryRun})
		if len(early) != 1 || early[0].Target != "early" || !strings.Contains(early[0].Reason, "RECEIVER_ACTIONS_APPROVE") {
			t.Errorf("dry-run actions = %+v, want the early one, saying approve's switch was off", early)
		}
		skipped := actions(t, st, store.ActionFilter{Outcome: store.ActionSkipped})
		if len(skipped) != 1 || skipped[0].Target != "sub-0007" || !strings.Contains(skipped[0].Reason, "no longer AWAITING REVIEW") {
			t.Errorf("skipped = %+v, want sub-0007, no longer awaiting review", skipped)
		}
	})
}

func callSizes(cs []call) []int {
	var out []int
	for _, c := range cs {
		out = append(out, len(c.IDs))
	}
	return out
}

// TestInterruptedPauseCheckedAtProlific: a pause interrupted after Prolific
// acted (the store has not heard yet) is found done at Prolific, not sent again.
func TestInterruptedPauseCheckedAtProlific(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		pro := &fakeProlific{}
		// The receiver that stops: it decides on the event, which leases
		// the pause to it, and stops as it sends it.
		crashed := startedRig(t, st, clock, parse(t, exampleRules), ModeLive, pro, &fakeSender{})
		save(t, st, storetest.NewEvent("study.has_high_return_rate", "study-2", "", clock.Now()))
		crashed.evaluate(t)
		if got := crashed.eng.handed.take(); len(got) != 1 || len(got[0].actions) != 1 || got[0].actions[0].Action != ActionPause {
			t.Fatalf("leased as decided = %+v, want the pause", got)
		}
		pro.TransitionStudy(testCtx(t), "study-2", "PAUSE") // its call, which went through
		r := newRig(t, st, clock, parse(t, exampleRules), ModeLive, pro, &fakeSender{})
		clock.Advance(2 * time.Minute)
		r.settle(t)
		if n := len(pro.Calls()); n != 1 {
			t.Errorf("%d transition calls, want the crashed one only", n)
		}
		as := actions(t, st, store.ActionFilter{})
		if len(as) != 1 || as[0].Outcome != store.ActionDone || !strings.Contains(as[0].Response, "went through") {
			t.Errorf("actions = %+v, want done, the interrupted attempt having gone through", as)
		}
	})
}

// TestWaitsForTheSubmissionsStudy: Prolific's submission webhooks do not
// name the study; rules wait (up to StudyWait) for enrichment to learn it,
// so a digest is per study and approve can check the study it names.
func TestWaitsForTheSubmissionsStudy(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		sender := &fakeSender{}
		r := startedRig(t, st, clock, parse(t, exampleRules), ModeLive, &fakeProlific{}, sender)
		r.eng.opts.StudyWait = time.Minute
		for i := range 3 {
			save(t, st, storetest.NewEvent("submission.status.change", fmt.Sprintf("sub-%d", i), "AWAITING REVIEW", clock.Now()))
		}
		r.settle(t)
		if as := actions(t, st, store.ActionFilter{}); len(as) != 0 {
			t.Fatalf("decided %d actions before the study was known", len(as))
		}
		for i := range 2 { // enrichment learnt two of them
			if err := st.SetSubmissionStudy(testCtx(t), fmt.Sprintf("sub-%d", i), "study-1"); err != nil {
				t.Fatal(err)
			}
		}
		r.settle(t)
		as := actions(t, st, store.ActionFilter{})
		if len(as) != 1 || as[0].StudyID != "study-1" || as[0].Count != 2 {
			t.Fatalf("actions = %+v, want one digest of study-1 counting 2", as)
		}
		clock.Advance(2 * time.Minute) // the third's study never became known: decided without it
		r.settle(t)
		as = actions(t, st, store.ActionFilter{})
		if len(as) != 2 || as[0].StudyID != "" || as[0].Target != "slack" {
			t.Fatalf("actions = %+v, want a second digest for the submission whose study is unknown", as)
		}
	})
}

// TestOldEventsNotActedOn: events stored over an hour before the engine
// reaches them (rules were off) trigger nothing.
func TestOldEventsNotActedOn(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		r := startedRig(t, st, clock, parse(t, exampleRules), ModeLive, &fakeProlific{}, &fakeSender{})
		save(t, st, storetest.NewEvent("study.has_high_return_rate", "study-old", "", clock.Now()))
		clock.Advance(2 * time.Hour)
		save(t, st, storetest.NewEvent("study.has_high_return_rate", "study-new", "", clock.Now()))
		r.settle(t)
		calls := r.pro.Calls()
		if len(calls) != 1 || calls[0].ID != "study-new" {
			t.Errorf("calls = %+v, want study-new paused only", calls)
		}
	})
}

// blockingProlific's calls wait until their context ends.
type blockingProlific struct {
	fakeProlific
	started chan struct{}
}

func (b *blockingProlific) TransitionStudy(ctx context.Context, id, action string) (string, error) {
	close(b.started)
	<-ctx.Done()
	return "", ctx.Err()
}

// TestShutdownHandsActionsBack: an attempt cut short by a shutdown is
// released due at once, not counted as a failure, and done by the next start.
func TestShutdownHandsActionsBack(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		cfg := parse(t, exampleRules)
		blocked := &blockingProlific{started: make(chan struct{})}
		r := startedRig(t, st, clock, cfg, ModeLive, &fakeProlific{}, &fakeSender{})
		r.eng.opts.Prolific = blocked
		save(t, st, storetest.NewEvent("study.has_high_return_rate", "study-1", "", clock.Now()))
		r.evaluate(t)
		ctx, cancel := context.WithCancel(testCtx(t))
		go func() { <-blocked.started; cancel() }()
		if _, err := r.eng.ExecuteDue(ctx); err != nil {
			t.Fatalf("ExecuteDue: %v", err)
		}
		as := actions(t, st, store.ActionFilter{})
		if len(as) != 1 || as[0].Outcome != store.ActionPending || !strings.Contains(as[0].Reason, "shutdown") {
			t.Fatalf("after the shutdown: %+v, want pending, released", as)
		}
		next := newRig(t, st, clock, cfg, ModeLive, &fakeProlific{}, &fakeSender{}) // the next start, no time passing
		next.settle(t)
		if c := next.pro.Calls(); len(c) != 1 {
			t.Errorf("the next start made %d calls, want the pause", len(c))
		}
	})
}

// TestStartPlacesTheCursor: events stored after Start returns are decided
// on even when the evaluator first reads the feed later (a receiver
// acknowledges webhooks from its first moment, while the engine's first
// pass may come after them); events stored before it are history.
func TestStartPlacesTheCursor(t *testing.T) {
	clock := storetest.NewClock(storetest.T0)
	forEachStore(t, clock, func(t *testing.T, open opener) {
		st := open(t)
		save(t, st, storetest.NewEvent("study.has_high_return_rate", "study-history", "", clock.Now()))
		r := newRig(t, st, clock, parse(t, exampleRules), ModeLive, &fakeProlific{}, &fakeSender{})
		if err := r.eng.Start(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		save(t, st, storetest.NewEvent("study.has_high_return_rate", "study-after-start", "", clock.Now()))
		save(t, st, submission("sub-after-start", "study-2", "APPROVED", clock.Now()))
		again := New(parse(t, exampleRules), Options{Mode: ModeLive, Store: st, Prolific: r.pro, Now: clock.Now})
		if err := again.Start(testCtx(t)); err != nil { // a restart keeps the recorded place
			t.Fatal(err)
		}
		r.settle(t)
		calls := r.pro.Calls()
		got := map[string]int{}
		for _, c := range calls {
			got[c.Kind+" "+c.ID]++
		}
		if want := map[string]int{"transition study-after-start": 1, "group group-1": 1}; len(calls) != 2 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("calls = %+v, want study-after-start paused and the participant added, study-history left alone", calls)
		}
	})
}
