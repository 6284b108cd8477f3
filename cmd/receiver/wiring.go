package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/prolific-receiver/receiver/internal/dashboard"
	"github.com/prolific-receiver/receiver/internal/enrich"
	"github.com/prolific-receiver/receiver/internal/handlers"
	"github.com/prolific-receiver/receiver/internal/outputs"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/reconcile"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storeopen"
	"github.com/prolific-receiver/receiver/internal/studymetrics"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// app is what serve builds: the shared pieces newApp makes first, and what
// each later step adds. A step reads only what newApp and the steps before
// it set.
type app struct {
	cfg      Config
	log      zerolog.Logger
	reg      *prometheus.Registry
	st       store.Store
	keyring  *verify.Keyring
	draining atomic.Bool

	// api calls Prolific's API and limiter is the rate limit and 429 pause
	// every part calling it shares; both nil without PROLIFIC_API_TOKEN.
	api        *prolific.Client
	limiter    *prolific.Limiter
	apiMetrics *enrich.Metrics
	// sched queues reconciliation passes; nil when none run periodically.
	sched *reconcile.Scheduler

	deps       handlers.Deps           // the HTTP handlers' dependencies
	tls        *tls.Config             // the public listener's; nil for plain HTTP
	background []func(context.Context) // runs until shutdown; waited for before the store closes
}

// newApp opens the store and builds the pieces every part shares;
// stopFailed ends serve when the store fails for good.
func newApp(ctx context.Context, cfg Config, log zerolog.Logger, stopFailed func(error)) (*app, error) {
	a := &app{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	metrics := handlers.NewMetrics(a.reg, version)
	st, err := storeopen.Open(ctx, cfg.Store, store.Options{
		OnFatal: func(err error) {
			log.Error().Err(err).Msg("the store's disk failed an fsync: stopping so that a restart reopens the store")
			stopFailed(err)
		},
		Enrich:        cfg.enrichmentEnabled(),
		Debounce:      cfg.EnrichDebounce,
		ObserveCommit: metrics.ObserveCommit,
		OnWait:        func(reason string) { log.Warn().Msg("opening the store: " + reason) },
		Outputs:       outputs.StoreOutputs(cfg.Outputs),
	})
	if err != nil {
		return nil, fmt.Errorf("open store (RECEIVER_STORE): %w", err)
	}
	a.st = st
	a.keyring = verify.NewKeyring(cfg.WebhookSecret, cfg.PreviousSecrets)
	a.deps = handlers.Deps{
		Log:          log,
		Saver:        st,
		Reader:       st,
		Pinger:       st,
		Keyring:      a.keyring,
		Tolerance:    verify.Tolerance{Past: cfg.TimestampTolerance, Future: cfg.FutureTolerance},
		MaxBodyBytes: cfg.MaxBodyBytes,
		AdminToken:   cfg.AdminToken,
		Metrics:      metrics,
		Gatherer:     a.reg,
		Draining:     &a.draining,
		Dashboard:    dashboard.New(st, dashboard.Options{Log: log.With().Str("component", "dashboard").Logger()}),
		Outbox:       st,
		Actions:      st,
	}
	sc := studymetrics.New(st, cfg.StudyRetention, nil)
	sc.Log = log
	a.reg.MustRegister(sc)
	return a, nil
}

// close closes the store, after everything using it stopped.
func (a *app) close() {
	if err := a.st.Close(); err != nil {
		a.log.Error().Err(err).Msg("closing the store")
	}
}

// addOutputs starts the configured outputs' workers; Saves wake them.
func (a *app) addOutputs(context.Context) error {
	if len(a.cfg.Outputs) == 0 {
		return nil
	}
	runner, err := startOutputs(a.st, a.cfg.Outputs, a.reg, a.log)
	if err != nil {
		return err
	}
	a.deps.Saver = runner.WakeOnSave(a.st)
	a.deps.Outputs = outputInfos(a.cfg.Outputs)
	a.background = append(a.background, runner.Run)
	return nil
}

// addRetention prunes old events when RECEIVER_EVENT_RETENTION is set.
func (a *app) addRetention(context.Context) error {
	if a.cfg.EventRetention > 0 {
		a.background = append(a.background, func(ctx context.Context) {
			store.RunPruner(ctx, a.st, a.cfg.EventRetention, time.Hour, a.log.With().Str("component", "retention").Logger())
		})
	}
	return nil
}

// addProlificAPI builds the API client and the rate limit its callers
// share, when an API token is set.
func (a *app) addProlificAPI(context.Context) error {
	if !a.cfg.enrichmentEnabled() {
		a.log.Info().Msg("PROLIFIC_API_TOKEN not set: working from webhooks alone (no enrichment from Prolific's API, no subscription checks)")
		return nil
	}
	a.apiMetrics = enrich.NewMetrics(a.reg, a.st, a.log)
	a.api = newProlificClient(a.cfg, a.apiMetrics.ObserveAPI)
	a.limiter = newProlificLimiter(a.cfg)
	return nil
}

// addEnrichment starts the enrichment worker, which also runs the
// reconciliation passes the scheduler and the API queue, and the sweep.
func (a *app) addEnrichment(context.Context) error {
	if a.api == nil {
		return nil
	}
	rec := newReconciler(a.cfg, a.st, a.api, a.reg, a.log, a.limiter)
	worker := enrich.New(a.st, a.api, enrich.Options{Metrics: a.apiMetrics, Limiter: a.limiter,
		Log:      a.log.With().Str("component", "enrich").Logger(),
		Handlers: map[string]func(context.Context, string) error{store.JobReconcile: rec.RunJob}})
	a.deps.Reconciler = rec
	a.background = append(a.background, func(ctx context.Context) { _ = worker.Run(ctx) })
	if a.cfg.ReconcileInterval > 0 { // recovers what webhooks missed (docs/reconcile.md)
		a.sched = reconcile.NewScheduler(rec, a.st, a.cfg.ReconcileInterval, worker.Notify)
		a.background = append(a.background, a.sched.Run)
	}
	if a.cfg.SweepInterval > 0 { // backstop for missed webhooks (docs/enrichment.md)
		a.background = append(a.background, func(ctx context.Context) {
			_ = worker.Sweep(ctx, a.st, a.cfg.SweepInterval, a.cfg.StudyRetention)
		})
	}
	return nil
}

// addSubscriptions bootstraps the subscriptions, loads the signing secret
// and starts the monitor, which asks for a reconciliation pass when
// Prolific's log shows failed deliveries.
func (a *app) addSubscriptions(ctx context.Context) error {
	if a.api == nil {
		return nil
	}
	var onFailed func()
	if sched := a.sched; sched != nil {
		onFailed = func() { sched.Trigger("failed deliveries in prolific's log") }
	}
	monitor, err := startProlific(ctx, a.cfg, a.api, a.keyring, a.reg, a.log, a.st, onFailed)
	if err != nil {
		return err
	}
	a.deps.OnBadSignature = monitor.Nudge
	a.background = append(a.background, monitor.Run)
	return nil
}

// addRules starts the rules engine when a rules file is set.
func (a *app) addRules(ctx context.Context) error {
	var gate apiGate
	if a.limiter != nil {
		gate = a.limiter
	}
	work, err := startRules(ctx, a.cfg, a.st, a.api, gate, a.reg, a.reg, a.log)
	if err != nil {
		return err
	}
	if work != nil {
		a.background = append(a.background, work)
	}
	return nil
}

// requireSecret refuses to start without a secret to verify webhooks with.
func (a *app) requireSecret(context.Context) error {
	if a.keyring.Current() == "" {
		return errors.New("no webhook secret: set PROLIFIC_WEBHOOK_SECRET, or PROLIFIC_API_TOKEN and PROLIFIC_WORKSPACE_ID")
	}
	return nil
}

// addTLS loads the public listener's certificate, reloaded when the files
// change, when RECEIVER_TLS_CERT_FILE is set.
func (a *app) addTLS(context.Context) error {
	if a.cfg.TLSCertFile == "" {
		return nil
	}
	rl, err := newCertReloader(a.cfg.TLSCertFile, a.cfg.TLSKeyFile, func(err error) {
		a.log.Error().Err(err).Msg("reloading the TLS certificate failed; keeping the previous one")
	})
	if err != nil {
		return err
	}
	a.tls = rl.tlsConfig()
	return nil
}

// addACME gets the public listener's certificates from an ACME CA when
// RECEIVER_ACME_* asks for it.
func (a *app) addACME(context.Context) error {
	if !a.cfg.acmeEnabled() {
		return nil
	}
	acme, err := setupACME(a.cfg, a.st, a.reg, a.log)
	if err != nil {
		return err
	}
	a.tls = acme.tlsConfig()
	a.background = append(a.background, acme.run)
	return nil
}

// servers are the two HTTP servers and their bound listeners.
type servers struct {
	public, admin *http.Server
	pubLn, admLn  net.Listener
}

// listen builds the HTTP servers and binds both listeners.
func (a *app) listen(onListen listening) (*servers, error) {
	s := &servers{
		public: newHTTPServer(handlers.NewPublic(a.deps), a.log),
		admin:  newHTTPServer(handlers.NewAdmin(a.deps), a.log),
	}
	s.public.TLSConfig = a.tls
	var err error
	if s.pubLn, err = net.Listen("tcp", a.cfg.ListenAddr); err != nil {
		return nil, fmt.Errorf("RECEIVER_LISTEN_ADDR: %w", err)
	}
	if s.admLn, err = net.Listen("tcp", a.cfg.AdminAddr); err != nil {
		s.pubLn.Close()
		return nil, fmt.Errorf("RECEIVER_ADMIN_ADDR: %w", err)
	}
	if a.tls != nil {
		s.pubLn = tls.NewListener(s.pubLn, a.tls)
	}
	a.log.Info().Str("public", s.pubLn.Addr().String()).Str("admin", s.admLn.Addr().String()).
		Bool("tls", a.tls != nil).Str("store", storeopen.Kind(a.cfg.Store)).Str("version", version).
		Msg("receiver listening")
	if onListen != nil {
		onListen(s.pubLn.Addr(), s.admLn.Addr())
	}
	return s, nil
}

// run serves both listeners and runs the background work until ctx ends,
// then drains: readiness fails, the servers shut down within
// ShutdownTimeout, and the background work is waited for.
func (a *app) run(ctx context.Context, s *servers) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, work := range a.background {
		g.Go(func() error { work(gctx); return nil })
	}
	g.Go(func() error { return serveListener(s.public, s.pubLn) })
	g.Go(func() error { return serveListener(s.admin, s.admLn) })
	g.Go(func() error {
		<-gctx.Done()
		a.draining.Store(true)
		a.log.Info().Msg("shutting down: draining in-flight requests")
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		defer cancel()
		errPub := s.public.Shutdown(sctx)
		errAdm := s.admin.Shutdown(sctx)
		return errors.Join(errPub, errAdm)
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if err := context.Cause(ctx); errors.Is(err, store.ErrStorageFailed) {
		return err
	}
	a.log.Info().Msg("receiver stopped")
	return nil
}
