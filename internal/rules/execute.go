package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prolific-receiver/receiver/internal/notify"
	"github.com/prolific-receiver/receiver/internal/store"
)

// maxBatch is the most resources one Prolific call carries (bulk approve's
// limit, used for participant groups too).
const maxBatch = 1000

// runActions carries out the actions the evaluator leased as it decided
// them, as soon as they are handed over, and claims the other due ones
// (digests, retries, leases run out) every poll, one call at a time
// (Prolific's advice for bulk approvals: in sequence, never in parallel).
func (e *Engine) runActions(ctx context.Context) {
	poll := time.NewTicker(e.opts.PollInterval)
	defer poll.Stop()
	for ctx.Err() == nil {
		n, err := e.ExecuteDue(ctx)
		if err != nil && ctx.Err() == nil {
			e.opts.Log.Error().Err(err).Msg("carrying out rule actions; trying again")
		}
		if n >= maxBatch { // a full claim: there may be more due at once
			continue
		}
		select {
		case <-ctx.Done():
		case <-poll.C:
		case <-e.handed.ready:
		}
	}
	// Leased actions not started are handed back, not left to run out
	// their lease (a claim would then take them as interrupted).
	for _, l := range e.handed.take() {
		e.release(ctx, l.actions, "not started before the receiver stopped; taken up again")
	}
}

// leased is actions leased at once: by a claim, or by the evaluator as it
// decided them (store.Rules.DecideClaim), at the time at.
type leased struct {
	actions []store.Action
	at      time.Time
}

// handoff passes the actions the evaluator leased to the action worker.
type handoff struct {
	mu    sync.Mutex
	queue []leased
	ready chan struct{} // signalled when queue gains actions
}

func newHandoff() *handoff { return &handoff{ready: make(chan struct{}, 1)} }

func (h *handoff) put(l leased) {
	if len(l.actions) == 0 {
		return
	}
	h.mu.Lock()
	h.queue = append(h.queue, l)
	h.mu.Unlock()
	select {
	case h.ready <- struct{}{}:
	default:
	}
}

func (h *handoff) take() []leased {
	h.mu.Lock()
	defer h.mu.Unlock()
	q := h.queue
	h.queue = nil
	return q
}

// ExecuteDue carries out the actions the evaluator has leased and handed
// over since the last pass, then claims the other due actions and carries
// them out, returning how many it claimed.
func (e *Engine) ExecuteDue(ctx context.Context) (int, error) {
	runs := e.handed.take()
	claimed, err := e.opts.Store.ClaimActions(ctx, e.opts.Owner, maxBatch, e.opts.Lease)
	runs = append(runs, leased{claimed, e.opts.Now()})
	e.studies, e.messages = map[string]*store.Study{}, map[int64]notify.Message{}
	defer func() { e.studies, e.messages = nil, nil }()
	errs := []error{err}
	for _, l := range runs {
		errs = append(errs, e.executeLeased(ctx, l))
	}
	if err := e.flush(ctx); err != nil {
		errs = append(errs, err)
	}
	return len(claimed), errors.Join(errs...)
}

// executeLeased carries out the actions of l. Batchable actions
// (participant group, approve) go together, up to maxBatch per call, in
// lease order, in dry-run as in live; the others one by one.
func (e *Engine) executeLeased(ctx context.Context, l leased) error {
	var order []string
	batches := map[string][]store.Action{}
	for _, a := range l.actions {
		k := "batch:" + a.Rule + "/" + a.Batch
		if a.Batch == "" {
			k = "single:" + strconv.FormatInt(a.ID, 10)
		}
		if _, ok := batches[k]; !ok {
			order = append(order, k)
		}
		batches[k] = append(batches[k], a)
	}
	var errs []error
	for _, k := range order {
		as := batches[k]
		for len(as) > 0 {
			// A pass slowed down (Prolific's 429 pause, a slow destination)
			// hands back what it has not started while its lease is still
			// good, rather than let another replica take rows it still holds.
			if e.opts.Now().Sub(l.at) > e.opts.Lease/2 || ctx.Err() != nil {
				e.release(ctx, as, "not started in its pass; taken up again")
				as = nil
				continue
			}
			n := min(len(as), maxBatch)
			if err := e.execute(ctx, as[:n]); err != nil {
				errs = append(errs, err)
			}
			as = as[n:]
		}
	}
	return errors.Join(errs...)
}

// release hands actions back, due now, without counting a failure.
func (e *Engine) release(ctx context.Context, as []store.Action, reason string) {
	ids := make([]int64, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := e.opts.Store.RetryActions(rctx, e.opts.Owner, ids, e.opts.Now(), reason); err != nil {
		e.opts.Log.Warn().Err(err).Msg("handing rule actions back; they are taken up when their lease ends")
	}
}

// counted is a result waiting to be recorded, with its metric labels.
type counted struct {
	rule, action string
	res          store.ActionResult
}

// flush records the buffered results in one write (see finish).
func (e *Engine) flush(ctx context.Context) error {
	if len(e.buffered) == 0 {
		return nil
	}
	results := make([]store.ActionResult, len(e.buffered))
	for i, c := range e.buffered {
		results[i] = c.res
	}
	// A finish must be recorded even while shutting down: the action happened.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := e.opts.Store.FinishActions(fctx, e.opts.Owner, results)
	if err == nil {
		for _, c := range e.buffered {
			e.opts.Metrics.count(c.rule, c.action, c.res.Outcome, 1)
		}
	}
	e.buffered = e.buffered[:0]
	return err
}

// rule returns the configured rule named name (nil: no longer configured).
func (e *Engine) rule(name string) *Rule {
	for i := range e.cfg.Rules {
		if e.cfg.Rules[i].Name == name {
			return &e.cfg.Rules[i]
		}
	}
	return nil
}

// sendsNothing reports whether a is recorded without being carried out.
func (e *Engine) sendsNothing(a store.Action) bool {
	return a.DryRun || e.opts.Mode != ModeLive || (a.Action == ActionApprove && !e.opts.Approve)
}

// execute carries out as: one action, or one batch of the same rule and batch.
func (e *Engine) execute(ctx context.Context, as []store.Action) error {
	first := as[0]
	r := e.rule(first.Rule)
	results := make([]store.ActionResult, 0, len(as))
	finishAll := func(outcome, reason, request, response string) error {
		results = results[:0]
		for _, a := range as {
			results = append(results, store.ActionResult{ID: a.ID, Outcome: outcome, Reason: reason, Request: request, Response: response})
		}
		return e.finish(ctx, first.Rule, first.Action, results)
	}
	if r == nil || r.Action.Type != first.Action {
		return finishAll(store.ActionSkipped, "the rule is no longer in the rules file (or its action changed)", "", "")
	}
	live, results := e.triage(ctx, r, as, results)
	if len(results) > 0 {
		if err := e.finish(ctx, r.Name, r.Action.Type, results); err != nil {
			return err
		}
	}
	if len(live) == 0 {
		return nil
	}
	return e.carryOut(ctx, r, live, results[:0])
}

// carryOut sends live (unless an interrupted pause or stop already went
// through) and records the outcome: done, failed, or retried later.
func (e *Engine) carryOut(ctx context.Context, r *Rule, live []store.Action, results []store.ActionResult) error {
	request := e.request(r, live...)
	var response string
	var err error
	if done, answer, cerr := e.wentThrough(ctx, r, live); cerr != nil {
		err = cerr
	} else if done {
		response = answer
	} else {
		response, err = e.call(ctx, r, live)
	}
	if err == nil {
		for _, a := range live {
			results = append(results, store.ActionResult{ID: a.ID, Outcome: store.ActionDone, Request: request, Response: response})
		}
		return e.finish(ctx, r.Name, r.Action.Type, results)
	}
	if ctx.Err() != nil { // cut short by shutdown: due again at once, as a clean stop
		e.release(ctx, live, "cut short by a shutdown")
		return nil
	}
	attempts := live[0].Attempts
	if permanent(err) || attempts >= e.opts.MaxAttempts {
		for _, a := range live {
			results = append(results, store.ActionResult{ID: a.ID, Outcome: store.ActionFailed, Request: request,
				Reason: fmt.Sprintf("after %d attempt(s): %v", a.Attempts, err)})
		}
		e.opts.Log.Error().Str("rule", r.Name).Str("action", r.Action.Type).Int("actions", len(live)).Err(err).Msg("rule action failed")
		return e.finish(ctx, r.Name, r.Action.Type, results)
	}
	wait := e.backoff(attempts, err)
	ids := make([]int64, len(live))
	for i, a := range live {
		ids[i] = a.ID
	}
	e.opts.Log.Warn().Str("rule", r.Name).Str("action", r.Action.Type).Int("attempt", attempts).Dur("retry_in", wait).Err(err).Msg("rule action failed; will retry")
	e.opts.Metrics.count(r.Name, r.Action.Type, "retried", len(live))
	return e.opts.Store.RetryActions(ctx, e.opts.Owner, ids, e.opts.Now().Add(wait), err.Error())
}

// finish records results of actions of rule's action, and counts them.
// Results are gathered and recorded together at the end of a pass
// (ExecuteDue), one write for many; the result of a call to Prolific is
// recorded at once, with what was gathered before it, so a crash right after
// it finds the action done rather than interrupted.
func (e *Engine) finish(ctx context.Context, rule, action string, results []store.ActionResult) error {
	for _, r := range results {
		e.buffered = append(e.buffered, counted{rule: rule, action: action, res: r})
	}
	switch action {
	case ActionPause, ActionStop, ActionGroupAdd, ActionApprove:
		for _, r := range results {
			if r.Outcome == store.ActionDone || r.Outcome == store.ActionFailed {
				return e.flush(ctx)
			}
		}
	}
	return nil
}

// request summarises what as send (or would send), without secrets.
func (e *Engine) request(r *Rule, as ...store.Action) string {
	targets := make([]string, 0, len(as))
	for _, a := range as {
		targets = append(targets, a.Target)
	}
	list := strings.Join(targets, ",")
	if len(list) > 300 {
		list = list[:300] + "..."
	}
	switch r.Action.Type {
	case ActionPause, ActionStop:
		return fmt.Sprintf(`POST /api/v1/studies/%s/transition/ {"action": %q}`, as[0].Target, strings.ToUpper(r.Action.Type))
	case ActionGroupAdd:
		return fmt.Sprintf(`POST /api/v1/participant-groups/%s/participants/ {"participant_ids": [%d: %s]}`, r.Action.GroupID, len(as), list)
	case ActionApprove:
		return fmt.Sprintf(`POST /api/v1/submissions/bulk-approve/ {"submission_ids": [%d: %s]}`, len(as), list)
	case ActionForward:
		return "queue for output " + r.Action.Output
	case ActionNotify:
		m := e.message(context.Background(), r, as[0])
		return "notify " + r.Action.Notifier + ": " + m.Subject
	}
	return ""
}

// call carries out live actions of r (one, or a batch).
func (e *Engine) call(ctx context.Context, r *Rule, as []store.Action) (string, error) {
	p := e.opts.Prolific
	needProlific := r.Action.Type != ActionNotify && r.Action.Type != ActionForward
	if needProlific && p == nil {
		return "", permanentError{errors.New("no Prolific API token (PROLIFIC_API_TOKEN) to act with")}
	}
	switch r.Action.Type {
	case ActionPause, ActionStop:
		return p.TransitionStudy(ctx, as[0].Target, strings.ToUpper(r.Action.Type))
	case ActionGroupAdd:
		return p.AddParticipantsToGroup(ctx, r.Action.GroupID, targets(as))
	case ActionApprove:
		// One bulk approval at a time across replicas too (Prolific's
		// advice for wallet contention): the store's lock where replicas
		// share one (PostgreSQL); one worker per process does the rest.
		if l, ok := e.opts.Store.(store.Locker); ok {
			unlock, err := l.Lock(ctx, "rules-approve")
			if err != nil {
				return "", err
			}
			defer unlock()
		}
		return p.BulkApproveSubmissions(ctx, targets(as))
	case ActionForward:
		var det Detail
		_ = json.Unmarshal([]byte(as[0].Detail), &det)
		if err := e.opts.Store.ForwardEvent(ctx, r.Action.Output, det.Seq); errors.Is(err, store.ErrNotFound) {
			return "", permanentError{errors.New("the event is no longer stored (retention)")}
		} else if err != nil {
			return "", err
		}
		return "queued", nil
	case ActionNotify:
		s := e.opts.Senders[r.Action.Notifier]
		if s == nil {
			return "", permanentError{fmt.Errorf("notifier %q is not set up", r.Action.Notifier)}
		}
		if err := s.Send(ctx, e.message(ctx, r, as[0])); err != nil {
			return "", err
		}
		return "sent", nil
	}
	return "", permanentError{fmt.Errorf("unknown action %q", r.Action.Type)}
}

func targets(as []store.Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Target
	}
	return out
}
