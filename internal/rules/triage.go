package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// triage decides what to do with each of as now (it may have become moot):
// the results of those not sent are appended to results; live are to send.
func (e *Engine) triage(ctx context.Context, r *Rule, as []store.Action, results []store.ActionResult) (live []store.Action, _ []store.ActionResult) {
	var dry []store.Action
	for _, a := range as {
		if e.sendsNothing(a) {
			dry = append(dry, a)
		}
	}
	if len(dry) > 0 {
		// The request a live pass would send for them: a batch's, for a batch.
		req := e.request(r, dry...)
		for _, a := range dry {
			results = append(results, store.ActionResult{ID: a.ID, Outcome: store.ActionDryRun, Request: req, Reason: e.dryRunReason(a)})
		}
	}
	for _, a := range as {
		if e.sendsNothing(a) {
			continue
		}
		// The request is summarised only for an action recorded here: a
		// message's summary is the message, rendered with its study.
		if skip, why := e.moot(ctx, r, a); skip {
			results = append(results, store.ActionResult{ID: a.ID, Outcome: store.ActionSkipped, Request: e.request(r, a), Reason: why})
			continue
		}
		if a.Interrupted && a.Action == ActionNotify {
			results = append(results, store.ActionResult{ID: a.ID, Outcome: store.ActionFailed, Request: e.request(r, a),
				Reason: "interrupted while sending (the receiver stopped); not sent again, so nobody gets it twice"})
			continue
		}
		live = append(live, a)
	}
	return live, results
}

// settle fills in Settled for the decisions due at once whose actions
// send nothing (dry-run), as triage would record them, batch by batch:
// they are recorded finished, with no lease, claim or second write.
// Messages are left to the action worker (their request is the message,
// which reads the study).
func (e *Engine) settle(ds []store.Decision, now time.Time) {
	var order []string
	batches := map[string][]int{}
	for i := range ds {
		d := &ds[i]
		a := store.Action{Rule: d.Rule, Action: d.Action, Target: d.Target, DryRun: d.DryRun, Detail: d.Detail}
		if d.Digest > 0 || d.DueAt.After(now) || d.Action == ActionNotify || !e.sendsNothing(a) || e.rule(d.Rule) == nil {
			continue
		}
		k := "single:" + strconv.Itoa(i)
		if d.Batch != "" {
			k = "batch:" + d.Rule + "/" + d.Batch
		}
		if _, ok := batches[k]; !ok {
			order = append(order, k)
		}
		batches[k] = append(batches[k], i)
	}
	for _, k := range order {
		for idx := batches[k]; len(idx) > 0; {
			n := min(len(idx), maxBatch)
			as := make([]store.Action, n)
			for j, i := range idx[:n] {
				d := &ds[i]
				as[j] = store.Action{Rule: d.Rule, Action: d.Action, Target: d.Target, DryRun: d.DryRun, Detail: d.Detail}
			}
			req := e.request(e.rule(as[0].Rule), as...)
			for j, i := range idx[:n] {
				ds[i].Settled = &store.ActionResult{Outcome: store.ActionDryRun, Request: req, Reason: e.dryRunReason(as[j])}
			}
			idx = idx[n:]
		}
	}
}

func (e *Engine) dryRunReason(a store.Action) string {
	switch {
	case e.opts.Mode != ModeLive:
		return "RECEIVER_ACTIONS is " + string(e.opts.Mode)
	case a.Action == ActionApprove && !e.opts.Approve:
		return "approve needs RECEIVER_ACTIONS_APPROVE=live as well"
	case a.DryRun:
		var det Detail
		_ = json.Unmarshal([]byte(a.Detail), &det)
		if det.DryRun != "" {
			return det.DryRun
		}
		return "decided in dry-run"
	}
	return ""
}

// moot reports whether a need not (or must not) be carried out any more.
func (e *Engine) moot(ctx context.Context, r *Rule, a store.Action) (bool, string) {
	st := e.opts.Store
	switch a.Action {
	case ActionApprove:
		if !slices.Contains(r.Trigger.StudyIDs, a.StudyID) || a.StudyID == "" {
			return true, "the rule does not name this study"
		}
		sub, err := st.Submission(ctx, a.Target)
		if err != nil {
			return true, "submission not known: " + err.Error()
		}
		if sub.Status != prolific.SubmissionAwaitingReview {
			return true, "no longer AWAITING REVIEW (now " + sub.Status + ")"
		}
		if age := e.opts.Now().Sub(sub.StatusAt); age < r.Action.MinAge {
			return true, fmt.Sprintf("in AWAITING REVIEW for %s only, less than min_age %s", age.Round(time.Second), r.Action.MinAge)
		}
	case ActionPause, ActionStop:
		if s, err := st.Study(ctx, a.Target); err == nil {
			done := map[string][]string{ActionPause: {prolific.StudyPaused, prolific.StudyCompleted, prolific.StudyAwaitingReview}, ActionStop: {prolific.StudyCompleted, prolific.StudyAwaitingReview}}
			if slices.Contains(done[a.Action], s.Status) {
				return true, "the study is " + s.Status + " already"
			}
		}
	}
	return false, ""
}

// wentThrough reports whether an interrupted pause or stop already took
// effect at Prolific (the study is no longer ACTIVE), so it is not sent again.
func (e *Engine) wentThrough(ctx context.Context, r *Rule, as []store.Action) (bool, string, error) {
	a := as[0]
	if !a.Interrupted || (a.Action != ActionPause && a.Action != ActionStop) || e.opts.Prolific == nil {
		return false, "", nil
	}
	status, err := e.opts.Prolific.StudyStatus(ctx, a.Target)
	if err != nil {
		return false, "", fmt.Errorf("checking the study after an interrupted attempt: %w", err)
	}
	if status != prolific.StudyActive && !(a.Action == ActionStop && status == prolific.StudyPaused) {
		return true, "the study is " + status + " at Prolific: the interrupted attempt went through (not sent again)", nil
	}
	return false, "", nil
}
