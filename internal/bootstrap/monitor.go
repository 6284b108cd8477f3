package bootstrap

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// Monitor keeps a serving receiver in step with Prolific: it follows the
// workspace's signing secret (a rotation made anywhere, e.g. by
// `receiver bootstrap --rotate-secret`, reaches the verifier without a
// restart, the old secret still accepted for Grace), and it checks that the
// subscriptions are still enabled (Prolific disables them after five days of
// failed deliveries), exporting receiver_subscription_enabled{event_type}
// and re-enabling them when AutoReenable is set. It also reads Prolific's
// delivery log for failed deliveries to the receiver
// (receiver_prolific_failed_deliveries{event_type}): a broken TLS
// certificate, proxy or DNS name in front of the receiver shows there and
// nowhere else, since such requests never reach it.
type Monitor struct {
	client       *prolific.Client
	cfg          Config
	keyring      *verify.Keyring
	grace        time.Duration
	interval     time.Duration
	autoReenable bool
	log          zerolog.Logger
	enabled      *prometheus.GaugeVec
	failed       *prometheus.GaugeVec
	now          func() time.Time
	onFailed     func()

	nudge chan struct{}
	mu    sync.Mutex
	// lastRefresh bounds how often a nudge may call Prolific.
	lastRefresh time.Time
}

// MonitorOptions configure a Monitor.
type MonitorOptions struct {
	Keyring *verify.Keyring
	// Grace is how long a replaced secret is still accepted.
	Grace time.Duration
	// Interval between checks (default 5 minutes).
	Interval time.Duration
	// AutoReenable repairs disabled or missing subscriptions (RECEIVER_AUTO_REENABLE).
	AutoReenable bool
	Log          zerolog.Logger
	// Registerer receives receiver_subscription_enabled; nil for none.
	Registerer prometheus.Registerer
	Now        func() time.Time
	// OnFailedDeliveries, when set, is called (and must not block) after a
	// check found failed deliveries in Prolific's log, so the events they
	// carried can be recovered at once (a reconciliation pass).
	OnFailedDeliveries func()
}

// NewMonitor returns a Monitor for cfg. With an empty cfg.PublicURL it only
// follows the secret.
func NewMonitor(c *prolific.Client, cfg Config, o MonitorOptions) *Monitor {
	m := &Monitor{client: c, cfg: cfg, keyring: o.Keyring, grace: o.Grace, interval: o.Interval,
		autoReenable: o.AutoReenable, log: o.Log, now: o.Now, nudge: make(chan struct{}, 1),
		onFailed: o.OnFailedDeliveries}
	if m.interval <= 0 {
		m.interval = 5 * time.Minute
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.enabled = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "receiver_subscription_enabled",
		Help: "1 when an enabled Prolific subscription delivers this event type to the receiver, else 0.",
	}, []string{"event_type"})
	m.failed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "receiver_prolific_failed_deliveries",
		Help: "Deliveries of this event type to the receiver that Prolific's delivery log showed as failed, " +
			"last attempted within the past hour, at the last check (every 5 minutes).",
	}, []string{"event_type"})
	if o.Registerer != nil {
		o.Registerer.MustRegister(m.enabled, m.failed)
	}
	return m
}

// FailedDeliveryWindow is how recent a failed delivery in Prolific's log
// must be to count in receiver_prolific_failed_deliveries.
const FailedDeliveryWindow = time.Hour

// failedPage is how many failed entries of a subscription's delivery log
// one check reads (the API's largest page).
const failedPage = 1000

// NudgeThrottle is how soon after the previous secret refresh a nudge may
// refresh again: short enough that deliveries signed with a just-rotated
// secret fail only briefly (Prolific retries them), long enough that forged
// requests cannot make the receiver hammer Prolific's API.
const NudgeThrottle = 10 * time.Second

// Nudge asks for an early secret refresh, e.g. after a delivery failed
// verification (the secret may just have been rotated). It never blocks;
// refreshes caused by nudges happen at most every NudgeThrottle.
func (m *Monitor) Nudge() {
	select {
	case m.nudge <- struct{}{}:
	default:
	}
}

// Run checks at once, then every interval and on nudges, until ctx is done.
func (m *Monitor) Run(ctx context.Context) {
	m.Check(ctx)
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Check(ctx)
		case <-m.nudge:
			m.mu.Lock()
			due := m.now().Sub(m.lastRefresh) >= NudgeThrottle
			m.mu.Unlock()
			if due {
				m.RefreshSecret(ctx)
			}
		}
	}
}

// Check refreshes the secret and the subscription states once.
func (m *Monitor) Check(ctx context.Context) {
	m.RefreshSecret(ctx)
	if m.cfg.PublicURL == "" {
		return
	}
	states, err := CheckSubscriptions(ctx, m.client, m.cfg)
	if err != nil {
		m.log.Error().Err(err).Msg("checking prolific subscriptions failed")
		return
	}
	broken := false
	for _, s := range states {
		v := 0.0
		if s.Enabled {
			v = 1
		} else {
			broken = true
			m.log.Warn().Str("event_type", s.EventType).Str("subscription_id", s.ID).
				Bool("auto_reenable", m.autoReenable).Msg("prolific subscription is not enabled")
		}
		m.enabled.WithLabelValues(s.EventType).Set(v)
	}
	m.checkDeliveries(ctx, states)
	if !broken || !m.autoReenable {
		return
	}
	results, err := Reenable(ctx, m.client, m.cfg, m.log)
	if err != nil {
		m.log.Error().Err(err).Msg("re-enabling prolific subscriptions failed")
		return
	}
	for _, r := range results {
		m.enabled.WithLabelValues(r.EventType).Set(1)
	}
}

// checkDeliveries counts, per subscription, the deliveries Prolific's log
// shows as failed (the last attempt got no 2xx) within FailedDeliveryWindow.
// A read that fails leaves the gauge as it was.
func (m *Monitor) checkDeliveries(ctx context.Context, states []SubscriptionState) {
	since := m.now().Add(-FailedDeliveryWindow)
	total := 0
	defer func() {
		if total > 0 && m.onFailed != nil {
			m.onFailed()
		}
	}()
	for _, s := range states {
		if s.ID == "" {
			m.failed.WithLabelValues(s.EventType).Set(0)
			continue
		}
		events, err := m.client.SubscriptionEvents(ctx, s.ID, prolific.EventsQuery{
			Status: []string{prolific.DeliveryFailed}, Limit: failedPage})
		if err != nil {
			m.log.Error().Err(err).Str("event_type", s.EventType).Msg("reading prolific's delivery log failed")
			continue
		}
		n := 0
		for _, e := range events {
			at := e.Updated
			if at.IsZero() {
				at = e.Created
			}
			if e.Status == prolific.DeliveryFailed && !at.Before(since) {
				n++
			}
		}
		m.failed.WithLabelValues(s.EventType).Set(float64(n))
		total += n
		if n > 0 {
			m.log.Warn().Str("event_type", s.EventType).Str("subscription_id", s.ID).Int("failed_deliveries", n).
				Msg("prolific reports failed deliveries to this receiver in the past hour: check that the public URL, " +
					"its TLS certificate and whatever is in front of the receiver work (docs/runbook.md)")
		}
	}
}

// RefreshSecret reads the workspace's secret and, when it changed, makes it
// current in the keyring, keeping the previous one for the grace period.
func (m *Monitor) RefreshSecret(ctx context.Context) {
	now := m.now()
	m.mu.Lock()
	m.lastRefresh = now
	m.mu.Unlock()
	secrets, err := m.client.Secrets(ctx, m.cfg.WorkspaceID)
	if err != nil {
		m.log.Error().Err(err).Msg("reading the prolific signing secret failed")
		return
	}
	for _, s := range secrets {
		if s.Value == "" {
			continue
		}
		if s.Value != m.keyring.Current() {
			m.keyring.Set(s.Value, now.Add(m.grace), now)
			m.log.Info().Dur("grace", m.grace).Msg("prolific signing secret changed: now verifying with the new one, the old one still accepted during the grace period")
		}
		return
	}
}
