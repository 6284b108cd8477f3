package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/prolific-receiver/receiver/internal/bootstrap"
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

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: receiver serve\n\nReceives Prolific webhooks on RECEIVER_LISTEN_ADDR and serves health, metrics,\nthe read API and the dashboard on RECEIVER_ADMIN_ADDR. Configuration: environment (README.md).")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	log, err := newLogger(stdout, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	gcDefault(os.Getenv)
	return serve(ctx, cfg, log, nil)
}

// gcPercent is the collector's target for `receiver serve` when GOGC is
// not set. The receiver's live heap is a few MiB and nearly everything a
// delivery allocates dies with it, so at Go's default of 100 % it collected
// many times a second under load; at 400 % it spent about a sixth less CPU
// per delivery (bench/profiling.md). GOMEMLIMIT, where set (the Kubernetes
// manifest sets it from the memory limit), still caps the heap.
const gcPercent = 400

// gcDefault applies gcPercent unless the operator set GOGC.
func gcDefault(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// listening reports the bound addresses once both listeners accept; tests use it.
type listening func(public, admin net.Addr)

// serve runs the receiver until ctx is cancelled, then drains: readiness
// fails, the listeners stop accepting, in-flight requests finish within
// ShutdownTimeout, background work stops and the store is closed.
func serve(ctx context.Context, cfg Config, log zerolog.Logger, onListen listening) error {
	reg := prometheus.NewRegistry()
	metrics := handlers.NewMetrics(reg, version)
	// A store that failed for good (a failed fsync, docs/powerloss.md)
	// stops the receiver with that error, so a restart reopens the store.
	ctx, stopFailed := context.WithCancelCause(ctx)
	defer stopFailed(nil)
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
		return fmt.Errorf("open store (RECEIVER_STORE): %w", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error().Err(err).Msg("closing the store")
		}
	}()

	keyring := verify.NewKeyring(cfg.WebhookSecret, cfg.PreviousSecrets)
	var draining atomic.Bool
	deps := handlers.Deps{
		Log:          log,
		Saver:        st,
		Reader:       st,
		Pinger:       st,
		Keyring:      keyring,
		Tolerance:    verify.Tolerance{Past: cfg.TimestampTolerance, Future: cfg.FutureTolerance},
		MaxBodyBytes: cfg.MaxBodyBytes,
		AdminToken:   cfg.AdminToken,
		Metrics:      metrics,
		Gatherer:     reg,
		Draining:     &draining,
		Dashboard:    dashboard.New(st, dashboard.Options{Log: log.With().Str("component", "dashboard").Logger()}),
	}
	sc := studymetrics.New(st, cfg.StudyRetention, nil)
	sc.Log = log
	reg.MustRegister(sc)

	// Background work; it stops when ctx is cancelled and is waited for
	// before the store is closed.
	var background []func(context.Context)
	if len(cfg.Outputs) > 0 { // forwarding to the lab's systems (docs/outputs.md)
		runner, err := startOutputs(st, cfg.Outputs, reg, log)
		if err != nil {
			return err
		}
		deps.Saver = runner.WakeOnSave(st)
		deps.Outputs = outputInfos(cfg.Outputs)
		background = append(background, runner.Run)
	}
	deps.Outbox = st
	if cfg.EventRetention > 0 { // deletes old events and their aliases (docs/store.md)
		background = append(background, func(ctx context.Context) {
			store.RunPruner(ctx, st, cfg.EventRetention, time.Hour, log.With().Str("component", "retention").Logger())
		})
	}
	var rulesClient *prolific.Client // the rules' Prolific actions, with the shared rate limit
	var rulesGate apiGate
	if cfg.enrichmentEnabled() {
		em := enrich.NewMetrics(reg, st, log)
		client := newProlificClient(cfg, em.ObserveAPI)
		var sched *reconcile.Scheduler // set below, before the monitor runs
		monitor, err := startProlific(ctx, cfg, client, keyring, reg, log, st, func() {
			if sched != nil {
				sched.Trigger("failed deliveries in prolific's log")
			}
		})
		if err != nil {
			return err
		}
		deps.OnBadSignature = monitor.Nudge
		lim := newProlificLimiter(cfg)
		rec := newReconciler(cfg, st, client, reg, log, lim)
		worker := enrich.New(st, client, enrich.Options{Metrics: em, Limiter: lim,
			Log:      log.With().Str("component", "enrich").Logger(),
			Handlers: map[string]func(context.Context, string) error{store.JobReconcile: rec.RunJob}})
		deps.Reconciler = rec
		rulesClient, rulesGate = client, lim
		background = append(background, monitor.Run, func(ctx context.Context) { _ = worker.Run(ctx) })
		if cfg.ReconcileInterval > 0 { // recovers what webhooks missed (docs/reconcile.md)
			sched = reconcile.NewScheduler(rec, st, cfg.ReconcileInterval, worker.Notify)
			background = append(background, sched.Run)
		}
		if cfg.SweepInterval > 0 { // backstop for missed webhooks (docs/enrichment.md)
			background = append(background, func(ctx context.Context) {
				_ = worker.Sweep(ctx, st, cfg.SweepInterval, cfg.StudyRetention)
			})
		}
	} else {
		log.Info().Msg("PROLIFIC_API_TOKEN not set: working from webhooks alone (no enrichment from Prolific's API, no subscription checks)")
	}
	work, err := startRules(cfg, st, rulesClient, rulesGate, reg, reg, log) // acting on events (docs/rules.md)
	if err != nil {
		return err
	}
	if work != nil {
		background = append(background, work)
	}
	deps.Actions = st
	if keyring.Current() == "" {
		return errors.New("no webhook secret: set PROLIFIC_WEBHOOK_SECRET, or PROLIFIC_API_TOKEN and PROLIFIC_WORKSPACE_ID")
	}

	public := newHTTPServer(handlers.NewPublic(deps), log)
	admin := newHTTPServer(handlers.NewAdmin(deps), log)
	if cfg.TLSCertFile != "" {
		rl, err := newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, func(err error) {
			log.Error().Err(err).Msg("reloading the TLS certificate failed; keeping the previous one")
		})
		if err != nil {
			return err
		}
		public.TLSConfig = rl.tlsConfig()
	}
	if cfg.acmeEnabled() { // certificates from an ACME CA (acme.go)
		acme, err := setupACME(cfg, st, reg, log)
		if err != nil {
			return err
		}
		public.TLSConfig = acme.tlsConfig()
		background = append(background, acme.run)
	}
	pubLn, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("RECEIVER_LISTEN_ADDR: %w", err)
	}
	admLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		pubLn.Close()
		return fmt.Errorf("RECEIVER_ADMIN_ADDR: %w", err)
	}
	if public.TLSConfig != nil {
		pubLn = tls.NewListener(pubLn, public.TLSConfig)
	}
	log.Info().Str("public", pubLn.Addr().String()).Str("admin", admLn.Addr().String()).
		Bool("tls", public.TLSConfig != nil).Str("store", storeopen.Kind(cfg.Store)).Str("version", version).
		Msg("receiver listening")
	if onListen != nil {
		onListen(pubLn.Addr(), admLn.Addr())
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, work := range background {
		g.Go(func() error { work(gctx); return nil })
	}
	g.Go(func() error { return serveListener(public, pubLn) })
	g.Go(func() error { return serveListener(admin, admLn) })
	g.Go(func() error {
		<-gctx.Done()
		draining.Store(true)
		log.Info().Msg("shutting down: draining in-flight requests")
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		errPub := public.Shutdown(sctx)
		errAdm := admin.Shutdown(sctx)
		return errors.Join(errPub, errAdm)
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if err := context.Cause(ctx); errors.Is(err, store.ErrStorageFailed) {
		return err
	}
	log.Info().Msg("receiver stopped")
	return nil
}

func serveListener(s *http.Server, ln net.Listener) error {
	if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newHTTPServer sets the timeouts that keep a slow client from pinning
// connections: headers within 5 s, the whole body within 30 s.
func newHTTPServer(h http.Handler, log zerolog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zerologStd(log),
	}
}

// startProlific runs bootstrap when RECEIVER_PUBLIC_URL is set (unless
// RECEIVER_BOOTSTRAP=false) and loads the signing secret into the keyring.
// A failed bootstrap stops the start only when there is no secret to verify
// with; otherwise the receiver serves and the monitor keeps trying.
func startProlific(ctx context.Context, cfg Config, client *prolific.Client, keyring *verify.Keyring,
	reg prometheus.Registerer, log zerolog.Logger, st store.Store, onFailed func()) (*bootstrap.Monitor, error) {
	bcfg := bootstrapConfig(cfg)
	monitor := bootstrap.NewMonitor(client, bcfg, bootstrap.MonitorOptions{
		Keyring: keyring, Grace: cfg.SecretGrace, AutoReenable: cfg.AutoReenable,
		Log: log.With().Str("component", "subscriptions").Logger(), Registerer: reg,
		OnFailedDeliveries: onFailed,
	})
	switch {
	case !cfg.Bootstrap:
		log.Info().Msg("RECEIVER_BOOTSTRAP=false: subscriptions are not managed at start-up")
	case cfg.PublicURL == "":
		log.Warn().Msg("RECEIVER_PUBLIC_URL not set: subscriptions are not managed, only the signing secret is fetched")
	default:
		unlock := lockBootstrap(ctx, st, log)
		sum, err := bootstrap.Run(ctx, client, bcfg, log.With().Str("component", "bootstrap").Logger())
		unlock()
		if err != nil {
			if keyring.Current() == "" {
				return nil, fmt.Errorf("bootstrap: %w", err)
			}
			log.Error().Err(err).Msg("bootstrap failed; serving with the configured secret, will keep checking")
			return monitor, nil
		}
		now := time.Now()
		if sum.PreviousSecret != "" && sum.PreviousSecret != keyring.Current() {
			keyring.Set(sum.PreviousSecret, now.Add(cfg.SecretGrace), now)
		}
		if sum.Secret != keyring.Current() {
			keyring.Set(sum.Secret, now.Add(cfg.SecretGrace), now)
		}
	}
	if keyring.Current() == "" {
		monitor.RefreshSecret(ctx)
		if keyring.Current() == "" {
			return nil, errors.New("could not fetch the webhook secret from Prolific: check PROLIFIC_API_TOKEN and PROLIFIC_WORKSPACE_ID, or set PROLIFIC_WEBHOOK_SECRET")
		}
	}
	return monitor, nil
}

// bootstrapLockWait bounds how long a replica waits for another one's
// bootstrap before it runs its own anyway. A bootstrap takes seconds; the
// bound stays well inside the Kubernetes startup probe's 60 s
// (deploy/kubernetes), since nothing listens until bootstrap is done.
const bootstrapLockWait = 30 * time.Second

// lockBootstrap makes replicas sharing a store (PostgreSQL) bootstrap one at
// a time, so that on a workspace without a signing secret only the first
// creates one and the others read it, instead of each creating (and so
// replacing) it. It returns the unlock function; without a shared store, or
// if the lock cannot be had in time, it returns a no-op and the bootstrap
// runs unlocked (bootstrap converges, at the cost of a secret rotation).
func lockBootstrap(ctx context.Context, st store.Store, log zerolog.Logger) func() {
	l, ok := st.(store.Locker)
	if !ok {
		return func() {}
	}
	lctx, cancel := context.WithTimeout(ctx, bootstrapLockWait)
	defer cancel()
	unlock, err := l.Lock(lctx, "bootstrap")
	if err != nil {
		log.Warn().Err(err).Msg("could not take the bootstrap lock shared with other replicas; bootstrapping without it")
		return func() {}
	}
	return unlock
}
