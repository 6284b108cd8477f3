package rules

import (
	"context"
	"fmt"
	"strings"

	"github.com/prolific-receiver/receiver/internal/store"
)

// Explain returns what e would trigger under cfg, as text: for each
// decision its rule, action, key, whether it would be sent, and the request
// (or message) it carries. It reads no store: triggers that need the
// store's submissions (return_share) or a clock (awaiting_review, health)
// are listed as not evaluated. `receiver rules test` prints it.
func Explain(ctx context.Context, cfg *Config, mode Mode, approve bool, e *store.Event) (string, error) {
	eng := New(cfg, Options{Mode: mode, Approve: approve})
	ds, err := eng.decider.Event(ctx, e)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if len(ds) == 0 {
		b.WriteString("no rule acts on this event\n")
	}
	for _, d := range ds {
		r := eng.rule(d.Rule)
		a := store.Action{Key: d.Key, Rule: d.Rule, Action: d.Action, StudyID: d.StudyID, Target: d.Target, Batch: d.Batch,
			EventIDs: d.EventIDs, Count: d.Count, DryRun: d.DryRun, Detail: d.Detail, DueAt: d.DueAt}
		key := d.Key
		if d.Digest > 0 {
			key = fmt.Sprintf("%s (a digest: at most one per %s, the first after %s)", d.DigestGroup, d.Digest, r.Action.Delay)
		}
		send := "live: would be sent"
		if eng.sendsNothing(a) {
			send = "dry-run: recorded, not sent (" + eng.dryRunReason(a) + ")"
		}
		fmt.Fprintf(&b, "rule %s (line %d): %s\n  key:     %s\n  mode:    %s\n  request: %s\n", d.Rule, r.Line, d.Action, key, send, eng.request(r, a))
		if d.Action == ActionNotify {
			m := eng.message(ctx, r, a)
			fmt.Fprintf(&b, "  subject: %s\n  text:    %s\n", m.Subject, strings.ReplaceAll(m.Text, "\n", "\n           "))
		}
		if d.Action == ActionApprove {
			fmt.Fprintf(&b, "  due:     %s (min_age after the event), if the submission is still AWAITING REVIEW then\n", d.DueAt.Format("2006-01-02T15:04:05Z07:00"))
		}
	}
	for _, r := range cfg.Rules {
		switch r.Trigger.Kind {
		case TriggerReturnShare:
			fmt.Fprintf(&b, "rule %s: return_share reads the store's submissions: not evaluated here\n", r.Name)
		case TriggerAwaitingReview:
			fmt.Fprintf(&b, "rule %s: awaiting_review is checked on a clock: not evaluated here\n", r.Name)
		case TriggerHealth:
			if r.Trigger.Signal != SignalReconcileCorrections {
				fmt.Fprintf(&b, "rule %s: health %s is checked on a clock: not evaluated here\n", r.Name, r.Trigger.Signal)
			}
		}
	}
	return b.String(), nil
}
