package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Outcomes of a rule action (Action.Outcome; docs/rules.md "Audit").
const (
	// ActionPending: decided, not yet carried out (due, leased or retrying).
	ActionPending = "pending"
	// ActionDryRun: decided and recorded; nothing was sent (dry-run mode).
	ActionDryRun = "dry-run"
	// ActionDone: carried out; Response holds the answer.
	ActionDone = "done"
	// ActionFailed: given up; Reason holds the last error.
	ActionFailed = "failed"
	// ActionSkipped: not carried out, Reason says why (no longer needed).
	ActionSkipped = "skipped"
)

// ActionOutcomes lists every outcome, in the order above.
var ActionOutcomes = []string{ActionPending, ActionDryRun, ActionDone, ActionFailed, ActionSkipped}

// ErrCursorMoved means another evaluator (another replica) recorded the
// decisions of the events asked about first; nothing was recorded.
var ErrCursorMoved = errors.New("rules cursor moved")

// MaxActionEvents bounds the event IDs one action records; Count keeps
// counting beyond it.
const MaxActionEvents = 100

// Decision is an action a rule decided on: recorded once per Key, whatever
// the number of times it is decided (duplicates, retries, backfill, replicas).
type Decision struct {
	// Key is the decision key: rule, action, resource and trigger window.
	// Ignored for a digest (the store keys it by DigestGroup and its due time).
	Key      string
	Rule     string
	Action   string // notify, pause, stop, group_add, approve, forward
	StudyID  string
	Target   string // the resource acted on: study, submission, participant, output
	Batch    string // actions with the same Batch may be carried out in one call
	EventIDs []string
	Count    int // events the decision covers (at least 1)
	DryRun   bool
	DueAt    time.Time
	Detail   string // JSON: what the trigger saw, for messages and the audit

	// Lease asks DecideClaim to lease the decision's new action to its
	// caller at once when it is due, rather than leave it for a claim.
	Lease bool
	// Settled, when set, records the decision's new action already
	// finished with this outcome, reason and request (an action that
	// sends nothing: nothing to lease, claim or wait for), attempts 0.
	Settled *ActionResult

	// Digest, when positive, makes the decision a digest of DigestGroup:
	// while the group's newest action is still waiting (never tried), the
	// decision is added to it (its events and count); otherwise a new
	// action is recorded, due at DueAt but no sooner than Digest after the
	// group's previous one.
	Digest      time.Duration
	DigestGroup string
}

// Action is one recorded decision and what became of it (the audit row).
type Action struct {
	ID         int64
	Key        string
	Rule       string
	Action     string
	StudyID    string
	Target     string
	Batch      string
	EventIDs   []string
	Count      int
	DryRun     bool
	Detail     string
	Outcome    string // see ActionPending...
	Reason     string // why skipped or failed; while pending, the last attempt's error
	Request    string // a summary of what was (or in dry-run would have been) sent
	Response   string // the destination's answer, bounded
	Attempts   int
	CreatedAt  time.Time
	DueAt      time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time // zero while pending

	// Interrupted is set on a claimed action whose previous lease ran out
	// (its worker stopped mid-attempt): the attempt may have been carried
	// out, so it must not simply be repeated.
	Interrupted bool
}

// ActionFilter selects actions for listing, newest first.
type ActionFilter struct {
	Rule     string
	StudyID  string
	Outcome  string
	BeforeID int64 // only actions with ID < BeforeID (paging); 0 for no bound
	Limit    int   // 0 means 100; capped at MaxLimit
}

// ActionResult is what became of a claimed action.
type ActionResult struct {
	ID       int64
	Outcome  string // anything but ActionPending
	Reason   string
	Request  string
	Response string
}

// RuleCursor moves the rules evaluator's place in the change feed from
// From to To (event seqs).
type RuleCursor struct{ From, To int64 }

// Rules is the part of the store the rules engine uses (docs/rules.md).
// Decisions are rows keyed by their decision key; a decision recorded
// twice is recorded once. Actions are carried out under leases as outbox
// rows and jobs are: one holder at a time, on any replica.
type Rules interface {
	// RulesCursor returns the seq up to which stored events were
	// evaluated, recording start as that place the first time.
	RulesCursor(ctx context.Context, start int64) (int64, error)
	// Decide records ds in one transaction. With cursor, it does so only
	// if the evaluator's place is cursor.From, and moves it to cursor.To in
	// the same transaction; otherwise it returns ErrCursorMoved and records
	// nothing. A decision whose Key is already recorded is left as it is.
	// It returns how many new actions were recorded.
	Decide(ctx context.Context, cursor *RuleCursor, ds []Decision) (int, error)
	// DecideClaim is Decide that also leases to owner, for lease, each new
	// action of a decision with Lease set that is due at once (attempts 1,
	// not Interrupted, as ClaimActions would), in the same transaction,
	// and returns them, with the new actions recorded Settled, in the
	// order of ds: the caller carries the pending ones out without
	// claiming them.
	DecideClaim(ctx context.Context, cursor *RuleCursor, ds []Decision, owner string, lease time.Duration) ([]Action, error)
	// ClaimActions leases up to limit due pending actions to owner for
	// lease, oldest due first, adding one to their attempts.
	ClaimActions(ctx context.Context, owner string, limit int, lease time.Duration) ([]Action, error)
	// FinishActions records the outcome of actions owner holds.
	FinishActions(ctx context.Context, owner string, results []ActionResult) error
	// RetryActions releases actions owner holds to be tried again at at.
	RetryActions(ctx context.Context, owner string, ids []int64, at time.Time, reason string) error
	// Actions lists recorded actions, newest first.
	Actions(ctx context.Context, f ActionFilter) ([]Action, error)
	// ForwardEvent queues the stored event with seq for output (a
	// registered output), as Save queues it for a matching one; an event
	// no longer stored is ErrNotFound.
	ForwardEvent(ctx context.Context, output string, seq int64) error
}

// LeasedAction is the action a decision recorded and leased at once
// (DecideClaim), as ClaimActions would return it: id is its row, ids its
// recorded event IDs, due its due time, now the time of the decision.
func LeasedAction(d Decision, key string, id int64, ids []string, due, now time.Time) Action {
	a := Action{ID: id, Key: key, Rule: d.Rule, Action: d.Action, StudyID: d.StudyID, Target: d.Target, Batch: d.Batch,
		EventIDs: ids, Count: max(d.Count, 1), DryRun: d.DryRun, Detail: d.Detail, Outcome: ActionPending, Attempts: 1,
		CreatedAt: now, DueAt: due, UpdatedAt: now}
	if r := d.Settled; r != nil {
		a.Outcome, a.Reason, a.Request, a.Response, a.Attempts, a.FinishedAt = r.Outcome, r.Reason, r.Request, r.Response, 0, now
	}
	return a
}

// MergeEventIDs appends add to ids, keeping at most MaxActionEvents and
// no ID twice.
func MergeEventIDs(ids, add []string) []string {
	out := slices.Clone(ids)
	for _, id := range add {
		if len(out) >= MaxActionEvents {
			break
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// DigestMergeable reports whether a digest group's newest action, with
// outcome, attempts and lease holder lockedBy, still takes more events:
// it is pending and no worker ever picked it up.
func DigestMergeable(outcome string, attempts int, lockedBy string) bool {
	return outcome == ActionPending && attempts == 0 && lockedBy == ""
}

// DigestDue returns when a new digest action is due: at want, but no
// sooner than window after the group's previous one (prevDue; zero when
// there is none).
func DigestDue(want, prevDue time.Time, window time.Duration) time.Time {
	if !prevDue.IsZero() && want.Before(prevDue.Add(window)) {
		return prevDue.Add(window)
	}
	return want
}

// DigestKey is the decision key of a digest action of group due at due.
func DigestKey(group string, due time.Time) string {
	return group + "@" + due.UTC().Format(time.RFC3339)
}

// ActionLimit applies the default (100 when n <= 0) and MaxLimit.
func ActionLimit(n int) int {
	if n <= 0 {
		n = 100
	}
	return min(n, MaxLimit)
}

// SortActionsDue sorts claimed actions oldest due first, then by ID.
func SortActionsDue(as []Action) {
	slices.SortFunc(as, func(a, b Action) int {
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// ActionResultGroup is results that record the same outcome, reason,
// request and response: a batch's actions, finished in one statement.
type ActionResultGroup struct {
	ActionResult // its ID unused
	IDs          []int64
}

// GroupActionResults groups results that record the same thing, in order of
// first appearance, and checks each outcome is final.
func GroupActionResults(results []ActionResult) ([]ActionResultGroup, error) {
	var out []ActionResultGroup
	index := map[ActionResult]int{}
	for _, r := range results {
		if r.Outcome == ActionPending || r.Outcome == "" {
			return nil, fmt.Errorf("finish action %d: outcome %q is not final", r.ID, r.Outcome)
		}
		k := r
		k.ID = 0
		if i, ok := index[k]; ok {
			out[i].IDs = append(out[i].IDs, r.ID)
			continue
		}
		index[k] = len(out)
		out = append(out, ActionResultGroup{ActionResult: k, IDs: []int64{r.ID}})
	}
	return out, nil
}
