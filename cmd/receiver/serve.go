package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/bootstrap"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
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
//
// It is wired in one direction: newApp builds the pieces every part shares
// (registry, store, keyring, handler dependencies), then each step adds
// one part using only what was built before it, then the listeners open.
// A new part is one more step in the list.
func serve(ctx context.Context, cfg Config, log zerolog.Logger, onListen listening) error {
	// A store that failed for good (a failed fsync, docs/powerloss.md)
	// stops the receiver with that error, so a restart reopens the store.
	ctx, stopFailed := context.WithCancelCause(ctx)
	defer stopFailed(nil)
	a, err := newApp(ctx, cfg, log, stopFailed)
	if err != nil {
		return err
	}
	defer a.close()
	steps := []func(context.Context) error{
		a.addOutputs,       // forwarding to the lab's systems (docs/outputs.md)
		a.addRetention,     // deletes old events and their aliases (docs/store.md)
		a.addProlificAPI,   // the API client and its shared rate limit, with a token
		a.addEnrichment,    // enrichment, reconciliation and the sweep (docs/enrichment.md, docs/reconcile.md)
		a.addSubscriptions, // bootstrap, the signing secret, the subscription monitor
		a.addRules,         // acting on events (docs/rules.md)
		a.requireSecret,
		a.addTLS,  // the public listener's certificate (RECEIVER_TLS_*)
		a.addACME, // or certificates from an ACME CA (acme.go)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	srv, err := a.listen(onListen)
	if err != nil {
		return err
	}
	return a.run(ctx, srv)
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
