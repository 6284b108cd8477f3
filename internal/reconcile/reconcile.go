// Package reconcile makes the receiver's picture converge on Prolific's
// truth after webhooks were lost: it backfills the events of Prolific's
// delivery log that the store does not hold (source "api"), and it compares
// every study still moving, or finished since it was last checked, with
// Prolific's submission listing, recording each correction as a synthetic
// event (source "reconcile"). Every write goes through store.Save, the
// webhook path's own group commit, deduplication and ordering rule. A
// pass runs as a job of the store's queue (store.JobReconcile), so one
// replica at a time does it. See docs/reconcile.md.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// Store is the part of store.Store the reconciler uses.
type Store interface {
	Save(ctx context.Context, e *store.Event) (store.Outcome, error)
	Event(ctx context.Context, id string) (*store.Event, error)
	Events(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	Study(ctx context.Context, id string) (*store.Study, error)
	Studies(ctx context.Context, f store.StudyFilter) ([]store.Study, error)
	Submission(ctx context.Context, id string) (*store.Submission, error)
	Submissions(ctx context.Context, studyID string, limit int) ([]store.Submission, error)
	ApplyStudySnapshot(ctx context.Context, s store.StudySnapshot) error
	SetSubmissionStudy(ctx context.Context, submissionID, studyID string) error
	ReconcileMarks(ctx context.Context, kind string) (map[string]time.Time, error)
	SetReconcileMark(ctx context.Context, kind, key string, at time.Time) error
}

// API is the part of Prolific's API the reconciler calls; *prolific.Client
// satisfies it.
type API interface {
	SubscriptionEvents(ctx context.Context, id string, q prolific.EventsQuery) ([]prolific.SubscriptionEvent, error)
	Study(ctx context.Context, id string) (prolific.Study, error)
	SubmissionCounts(ctx context.Context, studyID string) (map[string]int, error)
	StudySubmissions(ctx context.Context, studyID string, page, pageSize int) ([]prolific.Submission, error)
}

// Subscription is one subscription whose delivery log is read.
type Subscription struct {
	ID        string
	EventType string
}

// Defaults applied by New to zero Options fields.
const (
	DefaultMargin          = 10 * time.Minute
	DefaultLookback        = 7 * 24 * time.Hour
	DefaultSettle          = 30 * time.Second
	DefaultLogPageSize     = 500
	DefaultSavers          = 8
	DefaultSaveRate        = 250
	DefaultRetention       = 30 * 24 * time.Hour
	defaultSubmissionsPage = prolific.SubmissionsPageSize
)

// Options tune a Reconciler.
type Options struct {
	// Subscriptions lists the subscriptions whose delivery logs are read
	// (the ones the receiver manages); nil reads none.
	Subscriptions func(ctx context.Context) ([]Subscription, error)
	// Wait blocks until the next call to Prolific is allowed (the rate
	// limit shared with enrichment); nil for no limit.
	Wait func(ctx context.Context) error
	// Margin is how far before a subscription's cursor (or, without one,
	// the newest event stored before Started) a pass starts reading its log.
	Margin time.Duration
	// Lookback is how far back a subscription without a cursor is read at
	// least; further when the newest event stored before Started is older
	// (the receiver was down longer).
	Lookback time.Duration
	// Started is when this process started: events stored at or after it
	// never move where a subscription without a cursor is read from. Zero
	// means when New is called (serve calls it before it listens).
	Started time.Time
	// Retention: finished studies seen within it are reconciled once after
	// each change (RECEIVER_STUDY_RETENTION).
	Retention time.Duration
	// Settle is how long a difference found between the store and the
	// listing waits for a webhook already on its way before it is corrected.
	Settle time.Duration
	// LogPageSize is the delivery-log page size (1–1000).
	LogPageSize int
	// SubmissionsPageSize is the submission-listing page size.
	SubmissionsPageSize int
	// Savers is how many backfilled events are saved at once, so they share
	// group commits instead of taking one each.
	Savers int
	// SaveRate bounds backfilled events saved per second, so a large
	// backfill takes a bounded share of the store's commits from webhooks.
	SaveRate float64
	Metrics  *Metrics
	Log      zerolog.Logger
	Now      func() time.Time
}

// Reconciler runs reconciliation passes. Build it with New.
type Reconciler struct {
	st    Store
	api   API
	opts  Options
	saves *rate.Limiter

	baseMu   sync.Mutex
	baseRead bool      // base has been read
	base     time.Time // arrival of the newest event stored before opts.Started
}

// New returns a Reconciler over st and api.
func New(st Store, api API, opts Options) *Reconciler {
	if opts.Margin <= 0 {
		opts.Margin = DefaultMargin
	}
	if opts.Lookback <= 0 {
		opts.Lookback = DefaultLookback
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Settle < 0 {
		opts.Settle = 0
	}
	if opts.LogPageSize <= 0 || opts.LogPageSize > 1000 {
		opts.LogPageSize = DefaultLogPageSize
	}
	if opts.SubmissionsPageSize <= 0 {
		opts.SubmissionsPageSize = defaultSubmissionsPage
	}
	if opts.Savers <= 0 {
		opts.Savers = DefaultSavers
	}
	if opts.SaveRate <= 0 {
		opts.SaveRate = DefaultSaveRate
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Started.IsZero() {
		opts.Started = opts.Now()
	}
	return &Reconciler{st: st, api: api, opts: opts,
		saves: rate.NewLimiter(rate.Limit(opts.SaveRate), max(1, opts.Savers))}
}

// Request says what one pass covers. The zero value is a full pass: every
// managed subscription's log from its cursor, and every study due.
type Request struct {
	// StudyID limits the pass to one study: its own events in the logs of
	// the study event types, and its submissions.
	StudyID string
	// SubscriptionID limits the pass to one subscription's log (no
	// submission reconciliation).
	SubscriptionID string
	// Since reads the logs from this time instead of the cursors, and
	// reconciles every study seen since then.
	Since time.Time
	// AllStatuses reads SUCCEEDED log entries too, not only FAILED and
	// PENDING ones (a store restored from an old backup misses those).
	AllStatuses bool
	// DryRun reads and compares but writes nothing.
	DryRun bool
}

// full reports whether r is the default pass, which moves the cursors.
func (r Request) full() bool { return r.StudyID == "" && r.SubscriptionID == "" }

// Summary counts what a pass did. In a dry run, Stored and Corrections
// count what would have been written.
type Summary struct {
	Pages       int      `json:"pages"`       // API pages read (delivery log and submission listings)
	Found       int      `json:"found"`       // delivery-log entries in the window read
	Stored      int      `json:"stored"`      // of those, events stored now
	Present     int      `json:"present"`     // of those, events the store already held
	Invalid     int      `json:"invalid"`     // of those, entries that are not a readable Prolific event
	Studies     int      `json:"studies"`     // studies compared with Prolific's listing
	Corrections int      `json:"corrections"` // synthetic events recording a correction
	DryRun      bool     `json:"dry_run"`
	Errors      []string `json:"errors,omitempty"` // what could not be read or written
}

// Run performs one pass. It returns an error (after doing all it could)
// when some of Prolific's API could not be read or the store could not be
// written; the summary still counts what was done.
func (r *Reconciler) Run(ctx context.Context, req Request) (Summary, error) {
	sum := Summary{DryRun: req.DryRun}
	var errs []error
	fail := func(err error) {
		errs = append(errs, err)
		sum.Errors = append(sum.Errors, err.Error())
		r.opts.Metrics.failure(err)
	}
	if err := r.backfill(ctx, req, &sum); err != nil {
		fail(err)
	}
	if req.SubscriptionID == "" && ctx.Err() == nil {
		if err := r.reconcileStudies(ctx, req, &sum); err != nil {
			fail(err)
		}
	}
	err := errors.Join(errs...)
	if err == nil && req.full() && !req.DryRun {
		r.opts.Metrics.succeeded(r.opts.Now())
	}
	ev, msg := r.opts.Log.Info(), "reconcile: pass finished"
	if err != nil {
		ev, msg = r.opts.Log.Warn().Err(err), "reconcile: pass failed; what it stored is kept, the cursors stay before what it could not read"
	}
	ev.Int("pages", sum.Pages).Int("found", sum.Found).Int("stored", sum.Stored).Int("present", sum.Present).
		Int("invalid", sum.Invalid).Int("studies", sum.Studies).Int("corrections", sum.Corrections).
		Bool("dry_run", req.DryRun).Msg(msg)
	if err != nil {
		return sum, fmt.Errorf("reconcile: %w", err)
	}
	return sum, nil
}

// wait applies the rate limit before one API call.
func (r *Reconciler) wait(ctx context.Context) error {
	if r.opts.Wait == nil {
		return ctx.Err()
	}
	return r.opts.Wait(ctx)
}
