package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/notify"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/rules"
	"github.com/prolific-receiver/receiver/internal/store"
)

// loadRules reads RECEIVER_ACTIONS and RECEIVER_RULES_FILE into c (called
// by loadConfig, after the outputs file, which forward actions name).
func loadRules(c *Config) error {
	mode, err := rules.ParseMode(c.Actions)
	if err != nil {
		return fmt.Errorf("RECEIVER_ACTIONS: %w", err)
	}
	c.ActionsMode = mode
	if c.ActionsLease < 5*time.Second {
		return fmt.Errorf("RECEIVER_ACTIONS_LEASE: %s is too short; at least 5s (an attempt, Prolific's own retries included, must fit in it)", c.ActionsLease)
	}
	switch c.ActionsApprove {
	case "", "off":
	case "live":
	default:
		return fmt.Errorf("RECEIVER_ACTIONS_APPROVE: %q must be off or live", c.ActionsApprove)
	}
	if c.RulesFile == "" {
		return nil
	}
	names := make([]string, len(c.Outputs))
	for i, o := range c.Outputs {
		names[i] = o.Name
	}
	rc, err := rules.Load(c.RulesFile, os.Getenv, names)
	if err != nil {
		return fmt.Errorf("RECEIVER_RULES_FILE: %w", err)
	}
	c.Rules = rc
	return nil
}

// apiGate is the shared Prolific rate limit and 429 pause the rules' calls
// wait for and report to, with enrichment and reconciliation;
// *prolific.Limiter satisfies it.
type apiGate interface {
	Wait(ctx context.Context) error
	Observe(err error)
}

// prolificActions carries out rule actions on Prolific's API, each call
// after the shared rate limit.
type prolificActions struct {
	client *prolific.Client
	gate   apiGate
}

// gated makes one call to Prolific after the shared rate limit and tells
// the limiter how it went (a 429 pauses every caller, enrichment and
// reconciliation included).
func gated[T any](ctx context.Context, p prolificActions, call func() (T, error)) (T, error) {
	if p.gate == nil {
		return call()
	}
	if err := p.gate.Wait(ctx); err != nil {
		var zero T
		return zero, err
	}
	v, err := call()
	p.gate.Observe(err)
	return v, err
}

func (p prolificActions) TransitionStudy(ctx context.Context, studyID, action string) (string, error) {
	s, err := gated(ctx, p, func() (prolific.Study, error) { return p.client.TransitionStudy(ctx, studyID, action) })
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("study %s is %s", s.ID, s.Status), nil
}

func (p prolificActions) AddParticipantsToGroup(ctx context.Context, groupID string, ids []string) (string, error) {
	members, err := gated(ctx, p, func() ([]prolific.GroupMember, error) { return p.client.AddParticipantsToGroup(ctx, groupID, ids) })
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("group %s lists %d member(s)", groupID, len(members)), nil
}

func (p prolificActions) StudyStatus(ctx context.Context, studyID string) (string, error) {
	s, err := gated(ctx, p, func() (prolific.Study, error) { return p.client.Study(ctx, studyID) })
	return s.Status, err
}

func (p prolificActions) BulkApproveSubmissions(ctx context.Context, ids []string) (string, error) {
	return gated(ctx, p, func() (string, error) { return p.client.BulkApproveSubmissions(ctx, ids) })
}

// senders builds the rules file's notifiers.
func senders(cfg *rules.Config) (map[string]notify.Sender, error) {
	out := map[string]notify.Sender{}
	for _, n := range cfg.Notifiers {
		var s notify.Sender
		var err error
		switch n.Type {
		case "slack":
			s, err = notify.NewSlack(n.URL, notify.WithUserAgent("prolific-receiver/"+version))
		case "teams":
			s, err = notify.NewTeams(n.URL, notify.WithUserAgent("prolific-receiver/"+version))
		case "smtp":
			c := notify.SMTPConfig{Host: n.SMTP.Host, Port: n.SMTP.Port, Security: n.SMTP.Security,
				Username: n.SMTP.Username, Password: n.SMTP.Password, From: n.SMTP.From, To: n.SMTP.To}
			if n.RootCAs != nil {
				c.TLSConfig = &tls.Config{RootCAs: n.RootCAs, MinVersion: tls.VersionTLS12}
			}
			s, err = notify.NewSMTP(c)
		}
		if err != nil {
			return nil, fmt.Errorf("RECEIVER_RULES_FILE: notifier %s: %w", n.Name, err)
		}
		out[n.Name] = s
	}
	return out, nil
}

// rulesStudyWait bounds how long rules wait for enrichment to learn which
// study a submission belongs to (a lookup is debounced by
// RECEIVER_ENRICH_DEBOUNCE, then one API call).
const rulesStudyWait = 30 * time.Second

// startRules returns the rules engine's background work, or nil when no
// rules file is set or RECEIVER_ACTIONS=off. client is nil without an API
// token (then Prolific actions fail, recorded as such). On a store where
// rules never ran, it records the evaluator's starting place before it
// returns, so before the listeners open: every event the receiver
// acknowledges is evaluated, however late the engine first reads the feed.
func startRules(ctx context.Context, cfg Config, st store.Store, client *prolific.Client, gate apiGate, reg prometheus.Registerer,
	g prometheus.Gatherer, log zerolog.Logger) (func(context.Context), error) {
	if cfg.Rules == nil {
		return nil, nil
	}
	log = log.With().Str("component", "rules").Logger()
	if cfg.ActionsMode == rules.ModeOff {
		log.Warn().Msg("RECEIVER_ACTIONS=off: rules are not evaluated (changing it needs a restart)")
		return nil, nil
	}
	ss, err := senders(cfg.Rules)
	if err != nil {
		return nil, err
	}
	opts := rules.Options{Mode: cfg.ActionsMode, Approve: cfg.ActionsApprove == "live", Store: st, Senders: ss,
		Signals: rules.GatherSignals(g), DashboardURL: cfg.DashboardURL, Metrics: rules.NewMetrics(reg), Log: log,
		Lease: cfg.ActionsLease}
	if client != nil {
		opts.Prolific = prolificActions{client: client, gate: gate}
		opts.StudyWait = rulesStudyWait // enrichment learns a submission's study
	}
	log.Info().Str("mode", string(cfg.ActionsMode)).Bool("approve_live", opts.Approve).Int("rules", len(cfg.Rules.Rules)).
		Msg("rules engine on (RECEIVER_ACTIONS; changing it needs a restart)")
	eng := rules.New(cfg.Rules, opts)
	if err := eng.Start(ctx); err != nil {
		return nil, fmt.Errorf("rules: recording the starting place in the change feed: %w", err)
	}
	return eng.Run, nil
}
