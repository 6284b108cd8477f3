package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

// Run registers the receiver with Prolific as webhooks.md §5 describes and
// returns what it did:
//
//  1. validate cfg (nothing is sent if it is wrong);
//  2. check every wanted event type is offered by Prolific;
//  3. read the workspace's signing secret, creating one only when there is
//     none, replacing it only with cfg.RotateSecret;
//  4. per event type, on the exact (event_type, target_url) pair: keep an
//     enabled subscription untouched, re-enable a disabled one (or delete
//     and recreate it when Prolific refuses), or create and confirm one;
//  5. after any change, re-list and delete all but the smallest-ID enabled
//     subscription for the pair, so bootstraps racing on several replicas
//     converge on the same single subscription.
//
// Errors name the setting to fix (PROLIFIC_API_TOKEN, PROLIFIC_WORKSPACE_ID,
// RECEIVER_PUBLIC_URL, RECEIVER_EVENT_TYPES). log never receives secrets.
func Run(ctx context.Context, c *prolific.Client, cfg Config, log zerolog.Logger) (Summary, error) {
	target, types, err := cfg.check()
	if err != nil {
		return Summary{}, err
	}
	if c == nil {
		return Summary{}, errNoClient
	}
	sum := Summary{WorkspaceID: cfg.WorkspaceID, TargetURL: target}
	if err := checkEventTypes(ctx, c, cfg, types); err != nil {
		return sum, err
	}
	if err := ensureSecret(ctx, c, cfg, &sum, log); err != nil {
		return sum, err
	}
	r := &reconciler{c: c, cfg: cfg, target: target, log: log}
	state, err := r.list(ctx)
	if err != nil {
		return sum, err
	}
	for _, et := range types {
		res, removed, err := r.ensure(ctx, et, state[et])
		sum.RemovedDuplicates = append(sum.RemovedDuplicates, removed...)
		if err != nil {
			return sum, err
		}
		sum.Subscriptions = append(sum.Subscriptions, res)
		log.Info().Str("event_type", et).Str("action", string(res.Action)).
			Str("subscription_id", res.SubscriptionID).Str("target_url", target).Msg("prolific subscription ready")
	}
	return sum, nil
}

var errNoClient = errors.New("bootstrap: no Prolific API client: set PROLIFIC_API_TOKEN")

// checkEventTypes fails unless Prolific offers every wanted type.
func checkEventTypes(ctx context.Context, c *prolific.Client, cfg Config, wanted []string) error {
	offered, err := c.EventTypes(ctx)
	if err != nil {
		return explain(stepEventTypes, cfg, err)
	}
	var available, missing []string
	for _, o := range offered {
		available = append(available, o.EventType)
	}
	for _, w := range wanted {
		if !slices.Contains(available, w) {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("event types not offered by Prolific: %s (available: %s): check RECEIVER_EVENT_TYPES",
			strings.Join(missing, ", "), strings.Join(available, ", "))
	}
	return nil
}

// ensureSecret reads the workspace secret and creates or rotates it as cfg says.
//
// Creating a secret replaces any other, so two replicas bootstrapping a
// workspace that has none could each create one; the value is re-read after
// creating so that late replicas at least agree with the last writer.
func ensureSecret(ctx context.Context, c *prolific.Client, cfg Config, sum *Summary, log zerolog.Logger) error {
	existing, err := c.Secrets(ctx, cfg.WorkspaceID)
	if err != nil {
		return explain(stepSecret, cfg, err)
	}
	current := ""
	for _, s := range existing {
		if s.Value != "" {
			current = s.Value
			break
		}
	}
	if current != "" && !cfg.RotateSecret {
		sum.SecretAction, sum.Secret = SecretFetched, current
		log.Info().Str("secret_action", string(SecretFetched)).Msg("prolific signing secret ready")
		return nil
	}
	created, err := c.CreateSecret(ctx, cfg.WorkspaceID)
	if err != nil {
		return explain(stepSecret, cfg, err)
	}
	sum.Secret = created.Value
	if again, err := c.Secrets(ctx, cfg.WorkspaceID); err == nil && len(again) > 0 && again[0].Value != "" {
		sum.Secret = again[0].Value
	}
	if current != "" {
		sum.SecretAction, sum.PreviousSecret = SecretRotated, current
	} else {
		sum.SecretAction = SecretCreated
	}
	log.Info().Str("secret_action", string(sum.SecretAction)).Msg("prolific signing secret ready")
	return nil
}
