package main

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/bootstrap"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/reconcile"
	"github.com/prolific-receiver/receiver/internal/store"
)

// newReconciler builds the reconciler serve runs (docs/reconcile.md): it
// reads the delivery logs of the subscriptions the receiver manages (those
// for RECEIVER_PUBLIC_URL; none without it) and shares lim, the rate limit
// and 429 pause of every call to Prolific, with enrichment.
func newReconciler(cfg Config, st store.Store, client *prolific.Client, reg prometheus.Registerer,
	log zerolog.Logger, lim *prolific.Limiter) *reconcile.Reconciler {
	bcfg := bootstrapConfig(cfg)
	subs := func(ctx context.Context) ([]reconcile.Subscription, error) {
		if cfg.PublicURL == "" {
			return nil, nil
		}
		states, err := bootstrap.CheckSubscriptions(ctx, client, bcfg)
		if err != nil {
			return nil, fmt.Errorf("list subscriptions: %w", err)
		}
		var out []reconcile.Subscription
		for _, s := range states {
			if s.ID != "" {
				out = append(out, reconcile.Subscription{ID: s.ID, EventType: s.EventType})
			}
		}
		return out, nil
	}
	return reconcile.New(st, client, reconcile.Options{
		Subscriptions: subs,
		Wait:          lim.Wait,
		Retention:     cfg.StudyRetention,
		Settle:        cfg.ReconcileSettle,
		Metrics:       reconcile.NewMetrics(reg),
		Log:           log.With().Str("component", "reconcile").Logger(),
	})
}

// newProlificLimiter builds the one rate limit, with its 429 pause, that
// every call the receiver makes to Prolific on its own account shares
// (RECEIVER_PROLIFIC_RATE_LIMIT calls a second; after a 429 the client's
// retries did not overcome, RECEIVER_PROLIFIC_RATE_LIMIT_PAUSE without any).
func newProlificLimiter(cfg Config) *prolific.Limiter {
	return prolific.NewLimiter(prolific.LimiterOptions{RatePerSecond: cfg.APIRateLimit, Burst: max(1, int(cfg.APIRateLimit)),
		Pause: cfg.APIPause})
}
