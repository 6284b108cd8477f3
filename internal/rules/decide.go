package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// Detail is what a trigger saw, recorded with the decision (Action.Detail)
// and given to message templates.
type Detail struct {
	Trigger    string  `json:"trigger"`
	EventType  string  `json:"event_type,omitempty"`
	Status     string  `json:"status,omitempty"`
	Source     string  `json:"source,omitempty"`
	Resource   string  `json:"resource,omitempty"`
	Seq        int64   `json:"seq,omitempty"`
	Awaiting   int     `json:"awaiting,omitempty"`   // awaiting_review: submissions waiting longer than older_than
	OlderThan  string  `json:"older_than,omitempty"` // awaiting_review
	Share      float64 `json:"share,omitempty"`      // return_share
	Last       int     `json:"last,omitempty"`       // return_share
	Signal     string  `json:"signal,omitempty"`     // health
	SignalText string  `json:"signal_text,omitempty"`
	DryRun     string  `json:"dry_run,omitempty"` // why it was decided as dry-run
}

func (d Detail) json() string {
	b, _ := json.Marshal(d) // plain fields always encode
	return string(b)
}

// Facts is what deciding on an event may read besides the event: the
// store's projections. A nil Facts (rules test without a store) decides
// the triggers that need none.
type Facts interface {
	Submissions(ctx context.Context, studyID string, limit int) ([]store.Submission, error)
}

// Decider turns events and conditions into decisions for a set of rules.
type Decider struct {
	Rules   []Rule
	Mode    Mode
	Approve bool // RECEIVER_ACTIONS_APPROVE=live
	Facts   Facts
	Now     func() time.Time

	// memo remembers, within one page of events, which (rule, study)
	// return shares were already computed: the page is stored, so a later
	// event of the same study in it would read the same submissions.
	memo map[string]bool
}

// dryRun says why an action of r decided now is recorded as dry-run; ""
// when it is live.
func (d *Decider) dryRun(r *Rule) string {
	switch {
	case d.Mode != ModeLive:
		return "RECEIVER_ACTIONS was " + string(d.Mode) + " when it was decided"
	case r.DryRun:
		return "the rule says dry_run: true"
	case r.Action.Type == ActionApprove && !d.Approve:
		return "approve needs RECEIVER_ACTIONS_APPROVE=live as well; it was off when this was decided"
	}
	return ""
}

func (d *Decider) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// matchEvent reports whether e passes t's event filters.
func matchEvent(t *Trigger, e *store.Event) bool {
	return matchBeyondStudy(t, e) && (len(t.StudyIDs) == 0 || slices.Contains(t.StudyIDs, e.StudyID))
}

// matchBeyondStudy reports whether e passes t's filters other than study_ids.
func matchBeyondStudy(t *Trigger, e *store.Event) bool {
	return (len(t.EventTypes) == 0 || slices.Contains(t.EventTypes, e.Type)) &&
		(len(t.Statuses) == 0 || slices.Contains(t.Statuses, e.Status)) &&
		(len(t.Sources) == 0 || slices.Contains(t.Sources, store.SourceOf(e)))
}

// Relevant reports whether some rule could act on e, whatever study it
// turns out to be about. Events no rule names (progress pings, statuses no
// trigger lists) are passed over without waiting for their study or
// reading anything for them.
func (d *Decider) Relevant(e *store.Event) bool {
	for i := range d.Rules {
		t := &d.Rules[i].Trigger
		switch t.Kind {
		case TriggerEvent, TriggerStudyStatus:
			if matchBeyondStudy(t, e) {
				return true
			}
		case TriggerHealth:
			if t.Signal == SignalReconcileCorrections && matchBeyondStudy(t, e) {
				return true
			}
		case TriggerReturnShare:
			if raisesShare(e) {
				return true
			}
		}
	}
	return false
}

// FeedMatch returns the events the rules could act on, for the store to
// select from the change feed (Relevant decides on each one it returns).
// With no rule acting on events it matches every event, which Relevant
// then passes over.
func (d *Decider) FeedMatch() []store.EventMatch {
	var ms []store.EventMatch
	for i := range d.Rules {
		t := &d.Rules[i].Trigger
		switch {
		case t.Kind == TriggerEvent || t.Kind == TriggerStudyStatus ||
			(t.Kind == TriggerHealth && t.Signal == SignalReconcileCorrections):
			ms = append(ms, store.EventMatch{Types: t.EventTypes, Statuses: t.Statuses, Sources: t.Sources})
		case t.Kind == TriggerReturnShare:
			ms = append(ms, store.EventMatch{Types: []string{prolific.EventSubmissionStatusChange},
				Statuses: []string{prolific.SubmissionReturned, prolific.SubmissionTimedOut}})
		}
	}
	return ms
}

// raisesShare reports whether e can raise a study's return share: a
// submission returned or timed out.
func raisesShare(e *store.Event) bool {
	return e.Type == prolific.EventSubmissionStatusChange && (e.Status == prolific.SubmissionReturned || e.Status == prolific.SubmissionTimedOut)
}

// studyOf returns the study an event is about ("" when not known).
func studyOf(e *store.Event) string {
	if e.StudyID != "" {
		return e.StudyID
	}
	if strings.HasPrefix(e.Type, "study.") {
		return e.ResourceID
	}
	return ""
}

// window returns the start of the window of length w holding t, as a key part.
func window(t time.Time, w time.Duration) string {
	return t.UTC().Truncate(w).Format(time.RFC3339)
}

// decided is a decision whose Detail is not encoded yet: the engine folds
// a page's digest decisions into one first (mergeDecisions), and encodes
// only the Detail it keeps.
type decided struct {
	store.Decision
	det Detail
}

// encoded returns dc with its Detail encoded.
func (dc decided) encoded() store.Decision {
	dc.Detail = dc.det.json()
	return dc.Decision
}

// Event returns the decisions e triggers. Errors reading facts are
// returned: the caller tries the events again.
func (d *Decider) Event(ctx context.Context, e *store.Event) ([]store.Decision, error) {
	ds, err := d.event(ctx, e, nil)
	out := make([]store.Decision, len(ds))
	for i, dc := range ds {
		out[i] = dc.encoded()
	}
	return out, err
}

// event appends the decisions e triggers to out, their Details not yet encoded.
func (d *Decider) event(ctx context.Context, e *store.Event, out []decided) ([]decided, error) {
	for i := range d.Rules {
		r := &d.Rules[i]
		t := &r.Trigger
		det := Detail{Trigger: t.Kind, EventType: e.Type, Status: e.Status, Source: store.SourceOf(e), Resource: e.ResourceID, Seq: e.Seq}
		switch t.Kind {
		case TriggerEvent, TriggerStudyStatus:
			if !matchEvent(t, e) {
				continue
			}
		case TriggerHealth:
			if t.Signal != SignalReconcileCorrections || !matchEvent(t, e) {
				continue
			}
			det.Signal, det.SignalText = t.Signal, "the reconciler corrected the store from Prolific's API"
		case TriggerReturnShare:
			study := studyOf(e)
			// Only a return or a time-out raises the share: other events
			// are not looked at (a store read each, saved).
			if !raisesShare(e) || study == "" || d.Facts == nil ||
				(len(t.StudyIDs) > 0 && !slices.Contains(t.StudyIDs, study)) {
				continue
			}
			if d.memo != nil {
				if d.memo[r.Name+"\x00"+study] {
					continue
				}
				d.memo[r.Name+"\x00"+study] = true
			}
			subs, err := d.Facts.Submissions(ctx, study, t.Last)
			if err != nil {
				return out, fmt.Errorf("rule %s: %w", r.Name, err)
			}
			share, ok := returnShare(subs, t.Last)
			if !ok || share <= t.Above {
				continue
			}
			det.Share, det.Last = share, t.Last
		default:
			continue // periodic triggers: see Periodic
		}
		if dc, ok := d.decision(r, e, studyOf(e), det); ok {
			out = append(out, dc)
		}
	}
	return out, nil
}

// returnShare is the share of RETURNED and TIMED-OUT among the newest last
// submissions with a status; false while fewer than last are known.
func returnShare(subs []store.Submission, last int) (float64, bool) {
	n, bad := 0, 0
	for _, s := range subs {
		if s.Status == "" {
			continue
		}
		n++
		if s.Status == prolific.SubmissionReturned || s.Status == prolific.SubmissionTimedOut {
			bad++
		}
		if n == last {
			break
		}
	}
	if n < last {
		return 0, false
	}
	return float64(bad) / float64(n), true
}

// decision builds r's decision about event e (about study).
func (d *Decider) decision(r *Rule, e *store.Event, study string, det Detail) (decided, bool) {
	a := &r.Action
	det.DryRun = d.dryRun(r)
	dc := decided{Decision: store.Decision{Rule: r.Name, Action: a.Type, StudyID: study, EventIDs: []string{e.ID}, Count: 1,
		DryRun: det.DryRun != "", DueAt: d.now(), Lease: leaseAtOnce(a.Type, det.DryRun != "")}, det: det}
	key := func(parts ...string) string { return strings.Join(append([]string{r.Name, a.Type}, parts...), "/") }
	switch a.Type {
	case ActionNotify:
		dc.Target = a.Notifier
		if a.Digest > 0 {
			// Per study; the events whose study is not known share one
			// digest of the rule (not one per submission: 300 of them
			// are one message).
			dc.Digest, dc.DigestGroup = a.Digest, key(study)
			dc.DueAt = d.now().Add(a.Delay)
			return dc, true
		}
		dc.Key = key("event:" + e.ID)
	case ActionPause, ActionStop:
		if study == "" {
			return dc, false
		}
		dc.Target = study
		dc.Key = key(study, window(e.EventTime, a.Window))
	case ActionGroupAdd:
		if e.ParticipantID == "" {
			return dc, false
		}
		dc.Target, dc.Batch = e.ParticipantID, "group:"+a.GroupID
		dc.Key = key(a.GroupID, e.ParticipantID)
	case ActionApprove:
		// Only a study the rule names, whatever matched (belt and braces).
		if study == "" || !slices.Contains(r.Trigger.StudyIDs, study) || e.Type != prolific.EventSubmissionStatusChange {
			return dc, false
		}
		dc.Target, dc.Batch = e.ResourceID, "approve"
		dc.DueAt = e.EventTime.Add(a.MinAge)
		dc.Key = key(e.ResourceID)
	case ActionForward:
		dc.Target = a.Output
		dc.Key = key(a.Output, "event:"+e.ID)
	default:
		return dc, false
	}
	return dc, true
}

// Periodic returns the decisions of the conditions checked on a clock:
// awaiting_review from studies, health from signals.
func (d *Decider) Periodic(ctx context.Context, studies StudyReader, signals func() []Signal) ([]store.Decision, error) {
	var out []store.Decision
	now := d.now()
	var list []store.Study
	for i := range d.Rules {
		r := &d.Rules[i]
		t := &r.Trigger
		switch t.Kind {
		case TriggerAwaitingReview:
			if studies == nil {
				continue
			}
			if list == nil {
				var err error
				if list, err = studies.Studies(ctx, store.StudyFilter{}); err != nil {
					return nil, err
				}
			}
			for _, s := range list {
				if (len(t.StudyIDs) > 0 && !slices.Contains(t.StudyIDs, s.ID)) || s.SubmissionCounts[prolific.SubmissionAwaitingReview] < t.Count {
					continue
				}
				subs, err := studies.Submissions(ctx, s.ID, store.MaxLimit)
				if err != nil {
					return nil, err
				}
				old := 0
				for _, sub := range subs {
					if sub.Status == prolific.SubmissionAwaitingReview && !sub.StatusAt.After(now.Add(-t.OlderThan)) {
						old++
					}
				}
				if old < t.Count {
					continue
				}
				det := Detail{Trigger: t.Kind, Resource: s.ID, Awaiting: old, OlderThan: t.OlderThan.String()}
				out = append(out, d.periodic(r, s.ID, s.ID, det, now))
			}
		case TriggerHealth:
			if signals == nil || t.Signal == SignalReconcileCorrections {
				continue
			}
			for _, sig := range signals() {
				if sig.Name != t.Signal {
					continue
				}
				det := Detail{Trigger: t.Kind, Signal: sig.Name, SignalText: sig.Text, Resource: sig.Resource}
				out = append(out, d.periodic(r, "", sig.Resource, det, now))
			}
		}
	}
	return out, nil
}

func (d *Decider) periodic(r *Rule, study, resource string, det Detail, now time.Time) store.Decision {
	a := &r.Action
	target := study
	if a.Type == ActionNotify {
		target = a.Notifier
	}
	det.DryRun = d.dryRun(r)
	return store.Decision{Key: strings.Join([]string{r.Name, a.Type, resource, window(now, a.Window)}, "/"),
		Rule: r.Name, Action: a.Type, StudyID: study, Target: target, Count: 1, DryRun: det.DryRun != "", DueAt: now, Detail: det.json(),
		Lease: leaseAtOnce(a.Type, det.DryRun != "")}
}

// leaseAtOnce says whether an action is leased as it is decided and
// carried out without a claim (store.Decision.Lease). Every action is,
// but a notification that will be sent: should the receiver stop between
// the decision and the send, the next claim takes a leased action as
// interrupted, and an interrupted notification is not sent again (nobody
// gets it twice); one only decided, not leased, is simply sent later.
func leaseAtOnce(action string, dryRun bool) bool {
	return dryRun || action != ActionNotify
}

// StudyReader reads studies and their submissions (periodic triggers).
type StudyReader interface {
	Studies(ctx context.Context, f store.StudyFilter) ([]store.Study, error)
	Submissions(ctx context.Context, studyID string, limit int) ([]store.Submission, error)
}

// Signal is one unhealthy signal the receiver's metrics show.
type Signal struct {
	Name     string // SignalSubscriptionDisabled, SignalDeliveriesFailing
	Resource string // which subscription (event type), output or "prolific"
	Text     string // what it means, for messages
}
