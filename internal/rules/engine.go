package rules

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/ctxwait"
	"github.com/prolific-receiver/receiver/internal/notify"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// Mode is RECEIVER_ACTIONS.
type Mode string

// Modes (docs/rules.md "Safety").
const (
	ModeDryRun Mode = "dry-run" // decide and record everything, send nothing (the default)
	ModeLive   Mode = "live"    // carry actions out
	ModeOff    Mode = "off"     // evaluate nothing
)

// ParseMode reads RECEIVER_ACTIONS ("" is dry-run).
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeDryRun:
		return ModeDryRun, nil
	case ModeLive, ModeOff:
		return Mode(s), nil
	}
	return "", fmt.Errorf("%q must be dry-run, live or off", s)
}

// Store is the part of the store the engine uses; store.Store satisfies it.
type Store interface {
	store.Rules
	Events(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	Feed(ctx context.Context, f store.FeedFilter) (store.FeedPage, error)
	Study(ctx context.Context, id string) (*store.Study, error)
	Studies(ctx context.Context, f store.StudyFilter) ([]store.Study, error)
	Submission(ctx context.Context, id string) (*store.Submission, error)
	Submissions(ctx context.Context, studyID string, limit int) ([]store.Submission, error)
}

// Prolific is what actions call on Prolific's API. Each returns a short
// summary of Prolific's answer. Implementations wait for the shared rate
// limit (and its 429 pause) before each call.
type Prolific interface {
	TransitionStudy(ctx context.Context, studyID, action string) (string, error)
	AddParticipantsToGroup(ctx context.Context, groupID string, participantIDs []string) (string, error)
	BulkApproveSubmissions(ctx context.Context, submissionIDs []string) (string, error)
	// StudyStatus reads a study's status from Prolific (an interrupted
	// pause or stop is checked with it before it is repeated).
	StudyStatus(ctx context.Context, studyID string) (string, error)
}

// Options configure an Engine.
type Options struct {
	Mode    Mode
	Approve bool // RECEIVER_ACTIONS_APPROVE=live: approve may run in live mode
	Store   Store
	// Prolific carries out pause, stop, group_add and approve; nil fails them.
	Prolific Prolific
	Senders  map[string]notify.Sender // by notifier name
	// Signals returns the receiver's unhealthy signals (health triggers); nil for none.
	Signals      func() []Signal
	DashboardURL string
	Metrics      *Metrics
	Log          zerolog.Logger
	Now          func() time.Time
	Owner        string // lease owner; store.LeaseOwner() when empty

	// StudyWait is how long a submission event whose study is not known
	// yet may hold evaluation back while enrichment looks the study up
	// (Prolific's submission webhooks do not name it); 0 evaluates at once.
	StudyWait time.Duration

	PollInterval  time.Duration // how often new events are looked for (1s)
	CheckInterval time.Duration // how often periodic triggers are checked (30s)
	Lease         time.Duration // an attempt's lease (1m)
	MaxAttempts   int           // attempts before an action fails (8)
	BackoffBase   time.Duration // first retry's wait (2s), doubling
	BackoffMax    time.Duration // longest wait between attempts (5m)
}

// Engine evaluates rules on stored events and conditions and carries out
// the decided actions. Several replicas may run one each on a shared store.
type Engine struct {
	cfg      *Config
	opts     Options
	decider  *Decider
	buffered []counted // results not yet recorded (execute.go)
	// studies are the studies messages read in the current ExecuteDue
	// pass (nil outside one).
	studies map[string]*store.Study
	// messages are the messages rendered in the current ExecuteDue pass,
	// by action ID: an action's request summary and its sending render
	// it once (nil outside a pass).
	messages map[int64]notify.Message
	match    []store.EventMatch // the events the rules name (Decider.FeedMatch)
	decided  []decided          // the evaluator's page of decisions (EvaluateEvents)
	// at is the evaluator's place in the change feed as its last Decide
	// left it (when placed): read from the store once, not every poll;
	// should another replica move it, Decide says so and it is read again.
	at     int64
	placed bool
	handed *handoff // actions the evaluator leased, for the action worker (execute.go)
}

// New returns an engine for cfg.
func New(cfg *Config, opts Options) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Owner == "" {
		opts.Owner = store.LeaseOwner()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.PollInterval, time.Second)
	def(&opts.CheckInterval, 30*time.Second)
	def(&opts.Lease, time.Minute)
	def(&opts.BackoffBase, 2*time.Second)
	def(&opts.BackoffMax, 5*time.Minute)
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	opts.Metrics.init(cfg)
	d := &Decider{Rules: cfg.Rules, Mode: opts.Mode, Approve: opts.Approve, Facts: opts.Store, Now: opts.Now}
	return &Engine{cfg: cfg, opts: opts, decider: d, match: d.FeedMatch(), handed: newHandoff()}
}

// ProfileLabel is the pprof label (key=value) the engine's goroutines
// carry: a CPU profile of the receiver then tells the engine's share
// (bench/rules -profile).
const ProfileLabel = "component=rules"

// Run evaluates and acts until ctx ends. In ModeOff it returns at once.
func (e *Engine) Run(ctx context.Context) {
	if e.opts.Mode == ModeOff {
		return
	}
	k, v, _ := strings.Cut(ProfileLabel, "=")
	pprof.Do(ctx, pprof.Labels(k, v), func(ctx context.Context) {
		done := make(chan struct{})
		go func() { defer close(done); e.runActions(ctx) }()
		e.runEvaluator(ctx)
		<-done
	})
}

// runEvaluator reads the change feed from the stored cursor, and checks the
// periodic triggers every CheckInterval.
func (e *Engine) runEvaluator(ctx context.Context) {
	var lastCheck time.Time
	for ctx.Err() == nil {
		if err := e.EvaluateEvents(ctx); err != nil && ctx.Err() == nil {
			e.opts.Log.Error().Err(err).Msg("evaluating rules on stored events; trying again")
		}
		if now := e.opts.Now(); now.Sub(lastCheck) >= e.opts.CheckInterval {
			lastCheck = now
			if err := e.EvaluatePeriodic(ctx); err != nil && ctx.Err() == nil {
				e.opts.Log.Error().Err(err).Msg("evaluating periodic rules; trying again")
			}
		}
		if !ctxwait.Sleep(ctx, e.opts.PollInterval) {
			return
		}
	}
}

// MaxEventAge is how long after it was stored an event can still trigger
// an action: rules switched on again after a day off do not act on the
// day's history (pause a study for yesterday's spike).
const MaxEventAge = time.Hour

// feedPage is how many events one Decide covers.
const feedPage = store.MaxLimit

// Start records the evaluator's place in the change feed if none is
// recorded yet (the first start on this store): the newest stored event.
// Every event stored after Start returns is evaluated, however late the
// evaluator first reads the feed. serve calls it before the listeners
// open, so an event acknowledged by a receiver that is up is never taken
// for history. Later starts (and other replicas) keep the recorded place.
func (e *Engine) Start(ctx context.Context) error {
	_, err := e.cursor(ctx)
	return err
}

// place returns the evaluator's place: as it left it, else the store's.
func (e *Engine) place(ctx context.Context) (int64, error) {
	if e.placed {
		return e.at, nil
	}
	at, err := e.cursor(ctx)
	if err == nil {
		e.at, e.placed = at, true
	}
	return at, err
}

// cursor returns the evaluator's place, recording the newest stored event
// as that place the first time.
func (e *Engine) cursor(ctx context.Context) (int64, error) {
	st := e.opts.Store
	newest, err := st.Events(ctx, store.EventFilter{Limit: 1})
	if err != nil {
		return 0, err
	}
	var start int64
	if len(newest) > 0 {
		start = newest[0].Seq
	}
	return st.RulesCursor(ctx, start)
}

// EvaluateEvents decides on every event stored since the cursor, recording
// the decisions with the cursor's move. Without Start before it, the first
// call places the cursor at the newest stored event: rules act on what
// arrives from then on.
func (e *Engine) EvaluateEvents(ctx context.Context) error {
	st := e.opts.Store
	cursor, err := e.place(ctx)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		// Only the events some rule names, without bodies, each submission
		// event with the study the store knows for it now.
		page, err := st.Feed(ctx, store.FeedFilter{AfterSeq: cursor, Limit: feedPage, Match: e.match})
		if err != nil {
			return err
		}
		// One page's decisions, in a slice kept from page to page: grown
		// afresh each page, its copying was two thirds of deciding.
		ds := e.decided[:0]
		to, stale := page.Through, 0
		e.decider.memo = map[string]bool{}
		for i := range page.Events {
			ev := &page.Events[i]
			if !e.decider.Relevant(ev) {
				continue // no rule can act on it, whatever its study
			}
			if !e.studyReady(ev) {
				to = ev.Seq - 1 // its study may be known in a moment: decide from here on then
				break
			}
			if e.opts.Now().Sub(ev.ReceivedAt) > MaxEventAge {
				stale++
				continue
			}
			if ds, err = e.decider.event(ctx, ev, ds); err != nil {
				return err
			}
		}
		if to == cursor {
			return nil
		}
		if stale > 0 {
			e.opts.Log.Warn().Int("events", stale).Dur("older_than", MaxEventAge).
				Msg("rules: not acting on events stored long ago (rules were off or not running meanwhile)")
		}
		e.decided = ds
		err = e.decide(ctx, &store.RuleCursor{From: cursor, To: to}, mergeDecisions(ds))
		if errors.Is(err, store.ErrCursorMoved) { // another replica decided on them
			e.placed = false
			if cursor, err = e.place(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		cursor, e.at = to, to
		if len(page.Events) < feedPage {
			// The feed was read to its end: what arrives meanwhile waits
			// for the next poll, so a busy receiver gets one decision
			// transaction a poll, not one per handful of events (each
			// would take the single writer from the webhook path).
			return nil
		}
	}
	return ctx.Err()
}

// mergeDecisions folds a page's decisions before they go to the store:
// digest decisions of one group become one (their events and counts
// added, the last one's Detail kept), and a key decided twice is kept
// once. The store would reach the same rows; this spares its single writer
// a statement per event. Details are encoded here, once per decision kept.
func mergeDecisions(ds []decided) []store.Decision {
	out := make([]store.Decision, 0, len(ds))
	last := make([]Detail, 0, len(ds))
	digest := map[string]int{}
	keys := map[string]bool{}
	for _, d := range ds {
		if d.Digest > 0 {
			if i, ok := digest[d.DigestGroup]; ok {
				m := &out[i]
				// A page's events are distinct: no ID is added twice.
				// Once full, only the count grows.
				for _, id := range d.EventIDs {
					if len(m.EventIDs) < store.MaxActionEvents {
						m.EventIDs = append(m.EventIDs, id)
					}
				}
				m.Count += max(d.Count, 1)
				last[i] = d.det
				continue
			}
			d.Count = max(d.Count, 1)
			d.EventIDs = slices.Clone(d.EventIDs)
			digest[d.DigestGroup] = len(out)
		} else {
			if keys[d.Key] {
				continue
			}
			keys[d.Key] = true
		}
		out = append(out, d.Decision)
		last = append(last, d.det)
	}
	for i := range out {
		out[i].Detail = last[i].json()
	}
	return out
}

// studyReady reports whether ev can be decided on now: its study is known
// (the feed fills in what the store learnt since it was stored), it is no
// submission event, or it has waited StudyWait for enrichment to learn it.
func (e *Engine) studyReady(ev *store.Event) bool {
	if ev.StudyID != "" || ev.Type != prolific.EventSubmissionStatusChange {
		return true
	}
	return e.opts.StudyWait <= 0 || e.opts.Now().Sub(ev.ReceivedAt) >= e.opts.StudyWait
}

// EvaluatePeriodic decides on the periodic triggers now.
func (e *Engine) EvaluatePeriodic(ctx context.Context) error {
	ds, err := e.decider.Periodic(ctx, e.opts.Store, e.opts.Signals)
	if err != nil || len(ds) == 0 {
		return err
	}
	return e.decide(ctx, nil, ds)
}

// decide records ds (with cursor, see store.Rules.Decide), leasing the
// new actions that are due at once and handing them to the action worker:
// they are carried out without a claim of their own.
func (e *Engine) decide(ctx context.Context, cursor *store.RuleCursor, ds []store.Decision) error {
	at := e.opts.Now()
	e.settle(ds, at)
	as, err := e.opts.Store.DecideClaim(ctx, cursor, ds, e.opts.Owner, e.opts.Lease)
	pending := as[:0:0]
	for _, a := range as {
		if a.Outcome == store.ActionPending {
			pending = append(pending, a)
		} else {
			e.opts.Metrics.count(a.Rule, a.Action, a.Outcome, 1)
		}
	}
	e.handed.put(leased{pending, at})
	return err
}
