package backend

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/prolific-receiver/receiver/internal/store"
)

// OutboxRow is one row a batch queues: used by the backends' commit paths.
type OutboxRow struct {
	Output   string
	EventSeq int64
	OrderKey string
}

// OutboxRows appends to rows one row per output in outputs that e (stored,
// with Seq set, about studyID) passes.
func OutboxRows(rows []OutboxRow, outputs []store.Output, e *store.Event, studyID string) []OutboxRow {
	for i := range outputs {
		if outputs[i].Filter.Match(e.Type, e.Status, studyID) {
			rows = append(rows, OutboxRow{Output: outputs[i].Name, EventSeq: e.Seq, OrderKey: store.OrderKey(e, studyID)})
		}
	}
	return rows
}

// maxOutboxError bounds the last_error recorded for an outbox row.
const maxOutboxError = 1000

// TruncateError bounds reason to what an outbox row records.
func TruncateError(reason string) string {
	if len(reason) > maxOutboxError {
		return reason[:maxOutboxError]
	}
	return reason
}

// Settled is what a decision's new action is recorded with (see
// store.Decision.Settled): its outcome (pending unless settled), reason,
// request and response (bounded as errors are), and whether it is
// finished at the decision.
func Settled(d store.Decision) (outcome, reason, request, response string, finished bool) {
	if r := d.Settled; r != nil {
		return r.Outcome, TruncateError(r.Reason), TruncateError(r.Request), TruncateError(r.Response), true
	}
	return store.ActionPending, "", "", "", false
}

// SortOutbox sorts items by ID (queue order).
func SortOutbox(items []store.OutboxItem) {
	slices.SortFunc(items, func(a, b store.OutboxItem) int { return cmp.Compare(a.ID, b.ID) })
}

// CheckOutputs reports outputs without a name or with a name used twice.
func CheckOutputs(outputs []store.Output) error {
	seen := map[string]bool{}
	for _, o := range outputs {
		if o.Name == "" {
			return errors.New("outputs: an output has no name")
		}
		if seen[o.Name] {
			return fmt.Errorf("outputs: name %q used twice", o.Name)
		}
		seen[o.Name] = true
	}
	return nil
}

// MaxClaimWalk bounds how many pending rows of an output one claim looks
// at (ClaimOutbox). While a destination is down every row waits, and a
// claim would otherwise walk the whole backlog; rows further back are
// reached once the first ones are delivered or dead-lettered.
const MaxClaimWalk = 5000

// ClaimWalk picks the rows a claim may take from an output's pending rows
// offered in queue order (pending: not delivered, not dead-lettered, leased
// or not). With ordered, only the first pending row of each order key is
// taken, and only when it is free (due and not leased): a later row of the
// key waits for it. The backends use it so that both keep one rule.
type ClaimWalk struct {
	n       int
	ordered bool
	passed  map[string]bool // keys with an earlier pending row
	IDs     []int64         // the rows picked, in queue order
}

// NewClaimWalk picks up to n rows.
func NewClaimWalk(n int, ordered bool) *ClaimWalk {
	return &ClaimWalk{n: n, ordered: ordered, passed: map[string]bool{}}
}

// Offer considers the next pending row and reports whether more are
// wanted; once n rows are picked it picks no more.
func (w *ClaimWalk) Offer(id int64, key string, free bool) bool {
	if len(w.IDs) >= w.n {
		return false
	}
	if w.ordered {
		if w.passed[key] {
			return len(w.IDs) < w.n
		}
		w.passed[key] = true
	}
	if free {
		w.IDs = append(w.IDs, id)
	}
	return len(w.IDs) < w.n
}
