package bootstrap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

// SubscriptionState is one wanted event type's subscription as Prolific
// reports it, for periodic health checks.
type SubscriptionState struct {
	EventType string `json:"event_type"`
	// Enabled is true when an enabled subscription exists for the event type
	// and the target URL.
	Enabled bool `json:"enabled"`
	// ID is the enabled subscription, else a disabled one, else "" (none).
	ID string `json:"id"`
}

// CheckSubscriptions reports, for every wanted event type, whether an
// enabled subscription to the target URL exists. It changes nothing.
func CheckSubscriptions(ctx context.Context, c *prolific.Client, cfg Config) ([]SubscriptionState, error) {
	target, types, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errNoClient
	}
	r := &reconciler{c: c, cfg: cfg, target: target, log: zerolog.Nop()}
	state, err := r.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SubscriptionState, 0, len(types))
	for _, et := range types {
		m := state[et]
		st := SubscriptionState{EventType: et}
		switch {
		case len(m.enabled) > 0:
			st.Enabled, st.ID = true, m.enabled[0].ID
		case len(m.disabled) > 0:
			st.ID = m.disabled[0].ID
		}
		out = append(out, st)
	}
	return out, nil
}

// Reenable repairs subscriptions without touching the signing secret: for
// every wanted event type without an enabled subscription it re-enables the
// disabled one or creates and confirms a new one, exactly as Run does. Event
// types already enabled are reported Unchanged and not touched (unless
// duplicates need removing). Use it after CheckSubscriptions finds one
// disabled, e.g. by Prolific's automatic disabling after persistent failures.
func Reenable(ctx context.Context, c *prolific.Client, cfg Config, log zerolog.Logger) ([]Result, error) {
	target, types, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errNoClient
	}
	r := &reconciler{c: c, cfg: cfg, target: target, log: log}
	state, err := r.list(ctx)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, et := range types {
		res, _, err := r.ensure(ctx, et, state[et])
		if err != nil {
			return out, err
		}
		if res.Action != Unchanged {
			log.Info().Str("event_type", et).Str("action", string(res.Action)).
				Str("subscription_id", res.SubscriptionID).Msg("prolific subscription repaired")
		}
		out = append(out, res)
	}
	return out, nil
}

// reconciler makes one event type's subscriptions right.
type reconciler struct {
	c      *prolific.Client
	cfg    Config
	target string
	log    zerolog.Logger
}

// matches are the subscriptions of one event type at the target URL, each
// list sorted by ID.
type matches struct {
	enabled, disabled []prolific.Subscription
}

// list reads enabled and disabled subscriptions, grouped by event type.
func (r *reconciler) list(ctx context.Context) (map[string]matches, error) {
	out := map[string]matches{}
	for _, enabled := range []bool{true, false} {
		subs, err := r.c.Subscriptions(ctx, r.cfg.WorkspaceID, enabled)
		if err != nil {
			return nil, explain(stepList, r.cfg, err)
		}
		for _, s := range r.mine(subs) {
			m := out[s.EventType]
			if enabled {
				m.enabled = append(m.enabled, s)
			} else {
				m.disabled = append(m.disabled, s)
			}
			out[s.EventType] = m
		}
	}
	return out, nil
}

// mine keeps the subscriptions that point at the target in this workspace,
// smallest ID first.
func (r *reconciler) mine(subs []prolific.Subscription) []prolific.Subscription {
	var out []prolific.Subscription
	for _, s := range subs {
		if s.ID != "" && s.TargetURL == r.target && (s.WorkspaceID == "" || s.WorkspaceID == r.cfg.WorkspaceID) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b prolific.Subscription) int {
		return cmp.Or(cmp.Compare(len(a.ID), len(b.ID)), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// ensure leaves one enabled subscription for et and says what it did.
func (r *reconciler) ensure(ctx context.Context, et string, m matches) (Result, []string, error) {
	if len(m.enabled) > 0 {
		removed, err := r.dedupe(ctx, m.enabled)
		return Result{EventType: et, Action: Unchanged, SubscriptionID: m.enabled[0].ID}, removed, err
	}
	action := Created
	if len(m.disabled) > 0 {
		d := m.disabled[0]
		sub, err := r.c.UpdateSubscription(ctx, d.ID, prolific.SubscriptionUpdate{IsEnabled: ptr(true)})
		switch {
		case err == nil && sub.IsEnabled:
			return r.converge(ctx, et, Reenabled, d.ID)
		case err != nil && !refused(err):
			return Result{}, nil, explain(stepEnable, r.cfg, err)
		}
		// Prolific would not enable it (typically never confirmed): replace it.
		r.log.Warn().Str("event_type", et).Str("subscription_id", d.ID).AnErr("error", err).
			Msg("prolific refused to re-enable subscription; deleting and recreating it")
		if err := r.c.DeleteSubscription(ctx, d.ID); err != nil && !errors.Is(err, prolific.ErrNotFound) {
			return Result{}, nil, explain(stepDelete, r.cfg, err)
		}
		action = Recreated
	}
	id, err := r.create(ctx, et)
	if err != nil {
		return Result{}, nil, err
	}
	return r.converge(ctx, et, action, id)
}

// create creates and confirms a subscription for et and returns its ID. A
// subscription that cannot be confirmed is deleted again (best effort) so
// it does not linger disabled.
func (r *reconciler) create(ctx context.Context, et string) (string, error) {
	sub, hookSecret, err := r.c.CreateSubscription(ctx, r.cfg.WorkspaceID, et, r.target)
	if err != nil {
		return "", explain(stepCreate, r.cfg, err)
	}
	log := r.log.With().Str("event_type", et).Str("subscription_id", sub.ID).Logger()
	if err := r.confirm(ctx, sub.ID, hookSecret, log); err != nil {
		if derr := r.c.DeleteSubscription(context.WithoutCancel(ctx), sub.ID); derr != nil && !errors.Is(derr, prolific.ErrNotFound) {
			log.Warn().AnErr("error", derr).Msg("could not delete unconfirmed prolific subscription")
		}
		return "", explain(stepConfirm, r.cfg, fmt.Errorf("subscription %s for %s: %w", sub.ID, et, err))
	}
	return sub.ID, nil
}

// confirm posts the X-Hook-Secret back, trying a second time before giving
// up. A confirmation whose answer was lost is recognised by reading the
// subscription back.
func (r *reconciler) confirm(ctx context.Context, id, hookSecret string, log zerolog.Logger) error {
	if hookSecret == "" {
		return errors.New("prolific's create response carried no X-Hook-Secret header to confirm with")
	}
	var err error
	for attempt := 1; attempt <= 2; attempt++ {
		if _, err = r.c.ConfirmSubscription(ctx, id, hookSecret); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if s, gerr := r.c.Subscription(ctx, id); gerr == nil && s.IsEnabled {
			return nil
		}
		log.Warn().Int("attempt", attempt).AnErr("error", err).Msg("confirming prolific subscription failed")
	}
	return err
}

// converge re-lists the enabled subscriptions for et and deletes all but
// the smallest ID. Every replica that races through here sees the same set
// and keeps the same one, so they end with exactly one.
func (r *reconciler) converge(ctx context.Context, et string, action Action, ours string) (Result, []string, error) {
	subs, err := r.c.Subscriptions(ctx, r.cfg.WorkspaceID, true)
	if err != nil {
		return Result{}, nil, explain(stepList, r.cfg, err)
	}
	var same []prolific.Subscription
	for _, s := range r.mine(subs) {
		if s.EventType == et {
			same = append(same, s)
		}
	}
	res := Result{EventType: et, Action: action, SubscriptionID: ours}
	if len(same) == 0 {
		return res, nil, nil
	}
	res.SubscriptionID = same[0].ID
	removed, err := r.dedupe(ctx, same)
	return res, removed, err
}

// dedupe deletes every subscription in sorted after the first. Another
// replica deleting the same one first is fine.
func (r *reconciler) dedupe(ctx context.Context, sorted []prolific.Subscription) ([]string, error) {
	var removed []string
	for _, s := range sorted[1:] {
		err := r.c.DeleteSubscription(ctx, s.ID)
		if err != nil && !errors.Is(err, prolific.ErrNotFound) {
			return removed, explain(stepDelete, r.cfg, err)
		}
		removed = append(removed, s.ID)
		r.log.Info().Str("event_type", s.EventType).Str("subscription_id", s.ID).Str("kept", sorted[0].ID).
			Msg("removed duplicate prolific subscription")
	}
	return removed, nil
}

// refused reports whether Prolific answered with a client error other than
// auth or rate limiting: retrying the same request will not help.
func refused(err error) bool {
	var apiErr *prolific.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		return false
	}
	return apiErr.StatusCode >= 400 && apiErr.StatusCode < 500
}

func ptr[T any](v T) *T { return &v }
