// Package handlers builds the receiver's two HTTP surfaces: the public one
// that takes Prolific's webhooks, and the admin one with health, metrics, the
// read API and the dashboard. Every route is listed in routes.go.
package handlers

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/reconcile"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// Saver stores a verified event; store.Store satisfies it.
type Saver interface {
	Save(ctx context.Context, e *store.Event) (store.Outcome, error)
}

// Reader is what the read API and the dashboard need from the store.
type Reader interface {
	Event(ctx context.Context, id string) (*store.Event, error)
	Events(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	Study(ctx context.Context, id string) (*store.Study, error)
	Studies(ctx context.Context, f store.StudyFilter) ([]store.Study, error)
	Submission(ctx context.Context, id string) (*store.Submission, error)
	Submissions(ctx context.Context, studyID string, limit int) ([]store.Submission, error)
}

// Pinger reports whether the store is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are everything the two surfaces need, passed explicitly to
// NewPublic and NewAdmin, which hand each handler only the fields it uses
// (and fill the optional ones left nil).
type Deps struct {
	Log       zerolog.Logger
	Saver     Saver
	Reader    Reader
	Pinger    Pinger
	Keyring   *verify.Keyring
	Tolerance verify.Tolerance
	// MaxBodyBytes is the largest accepted webhook body (413 above it).
	MaxBodyBytes int64
	// AdminToken, when set, is the bearer token /api/v1/* requires.
	AdminToken string
	Metrics    *Metrics
	Gatherer   prometheus.Gatherer
	// Draining, when set and true, makes /readyz fail so load balancers stop
	// sending traffic before shutdown.
	Draining *atomic.Bool
	// Dashboard serves GET / and its assets on the admin listener; nil for none.
	Dashboard Mounter
	// OnBadSignature, when set, is called (and must not block) after a
	// delivery's signature matched no known secret: the secret may just have
	// been rotated, so the caller can refresh it early.
	OnBadSignature func()
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Outbox serves the outputs API (/api/v1/outputs); nil leaves it out.
	Outbox Outbox
	// Actions serves the rule actions' audit (/api/v1/actions); nil leaves it out.
	Actions Actions
	// Outputs are the configured outputs, for GET /api/v1/outputs.
	Outputs []OutputInfo
	// Reconciler runs POST /api/v1/reconcile; nil (no API token) answers 503.
	Reconciler Reconciler
}

// Reconciler runs one reconciliation pass on demand; *reconcile.Reconciler
// satisfies it.
type Reconciler interface {
	Run(ctx context.Context, req reconcile.Request) (reconcile.Summary, error)
}

// clock returns d.Now, or time.Now when it is nil.
func (d *Deps) clock() func() time.Time {
	if d.Now != nil {
		return d.Now
	}
	return time.Now
}

// webhookDeps is what the webhook path (verification, storing, refusals)
// uses, every field set.
type webhookDeps struct {
	Log            zerolog.Logger
	Metrics        *Metrics
	Saver          Saver
	Keyring        *verify.Keyring
	Tolerance      verify.Tolerance
	MaxBodyBytes   int64
	OnBadSignature func()
	now            func() time.Time
}

// webhook picks the webhook path's dependencies from d.
func (d *Deps) webhook() *webhookDeps {
	onBad := d.OnBadSignature
	if onBad == nil {
		onBad = func() {}
	}
	return &webhookDeps{Log: d.Log, Metrics: d.Metrics, Saver: d.Saver, Keyring: d.Keyring, Tolerance: d.Tolerance,
		MaxBodyBytes: d.MaxBodyBytes, OnBadSignature: onBad, now: d.clock()}
}
