package bootstrap

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/verify"
)

func TestMonitorFollowsSecretRotation(t *testing.T) {
	e := newEnv(t, prolifictest.Options{Secrets: map[string]string{workspace: "first-secret-aaaa"}})
	now := time.Now()
	kr := verify.NewKeyring("first-secret-aaaa", nil)
	m := NewMonitor(e.client(token), Config{WorkspaceID: workspace}, MonitorOptions{
		Keyring: kr, Grace: time.Hour, Log: e.logger(), Now: func() time.Time { return now }})
	m.Check(t.Context())
	if got := kr.Len(now); got != 1 {
		t.Fatalf("keyring holds %d secrets before rotation, want 1", got)
	}
	newSecret, err := e.fake.RotateSecret(workspace)
	if err != nil {
		t.Fatal(err)
	}
	m.RefreshSecret(t.Context())
	if kr.Current() != newSecret {
		t.Fatal("keyring's current secret is not the rotated one")
	}
	secrets := kr.Secrets(now)
	if len(secrets) != 2 || secrets[1] != "first-secret-aaaa" {
		t.Errorf("keyring holds %d secrets, want the new one and the old one during the grace period", len(secrets))
	}
	if got := kr.Len(now.Add(2 * time.Hour)); got != 1 {
		t.Errorf("after the grace period the keyring holds %d secrets, want 1", got)
	}
	if logs := e.logs.String(); strings.Contains(logs, newSecret) || strings.Contains(logs, "first-secret-aaaa") {
		t.Error("logs contain a signing secret")
	}
}

func TestMonitorSubscriptionHealth(t *testing.T) {
	for _, auto := range []bool{false, true} {
		name := map[bool]string{false: "report only", true: "auto re-enable"}[auto]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, prolifictest.Options{})
			c := e.client(token)
			if _, err := Run(t.Context(), c, cfg(), e.logger()); err != nil {
				t.Fatalf("bootstrap: %v", err)
			}
			// Prolific disables a subscription after persistent failures.
			disabled := e.subsFor(prolific.EventStudyProgressChange)[0].ID
			off := false
			if _, err := c.UpdateSubscription(t.Context(), disabled, prolific.SubscriptionUpdate{IsEnabled: &off}); err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			kr := verify.NewKeyring("", nil)
			m := NewMonitor(c, cfg(), MonitorOptions{Keyring: kr, Grace: time.Hour, AutoReenable: auto, Log: e.logger(), Registerer: reg})
			m.Check(t.Context())
			want := map[bool]float64{false: 0, true: 1}[auto]
			if got := testutil.ToFloat64(m.enabled.WithLabelValues(prolific.EventStudyProgressChange)); got != want {
				t.Errorf("receiver_subscription_enabled{study.progress.change} = %v, want %v", got, want)
			}
			if got := testutil.ToFloat64(m.enabled.WithLabelValues(prolific.EventStudyStatusChange)); got != 1 {
				t.Errorf("receiver_subscription_enabled{study.status.change} = %v, want 1", got)
			}
			subs := e.subsFor(prolific.EventStudyProgressChange)
			if len(subs) != 1 || subs[0].Enabled != auto {
				t.Errorf("fake holds %+v, want one subscription enabled=%v", subs, auto)
			}
			if kr.Current() == "" {
				t.Error("the monitor did not load the workspace secret")
			}
			if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %v", problems, err)
			}
		})
	}
}

func TestMonitorNudgeDoesNotBlock(t *testing.T) {
	m := NewMonitor(nil, Config{}, MonitorOptions{})
	done := make(chan struct{})
	go func() {
		for range 10 {
			m.Nudge()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Nudge blocked")
	}
}

// refusingTransport fails every delivery attempt, as a broken certificate or
// proxy in front of the receiver would.
type refusingTransport struct{}

func (refusingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("tls: failed to verify certificate")
}

func TestMonitorCountsFailedDeliveries(t *testing.T) {
	e := newEnv(t, prolifictest.Options{Client: &http.Client{Transport: refusingTransport{}}})
	c := e.client(token)
	if _, err := Run(t.Context(), c, cfg(), e.logger()); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	for range 3 {
		if _, err := e.fake.Emit(workspace, prolific.EventStudyStatusChange, prolifictest.NewID(),
			prolifictest.F("status", "ACTIVE")); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.fake.WaitIdle(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	reg := prometheus.NewRegistry()
	m := NewMonitor(c, cfg(), MonitorOptions{Keyring: verify.NewKeyring("", nil), Grace: time.Hour,
		Log: e.logger(), Registerer: reg, Now: func() time.Time { return now }})
	m.Check(t.Context())
	if got := testutil.ToFloat64(m.failed.WithLabelValues(prolific.EventStudyStatusChange)); got != 3 {
		t.Errorf("receiver_prolific_failed_deliveries{study.status.change} = %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.failed.WithLabelValues(prolific.EventSubmissionStatusChange)); got != 0 {
		t.Errorf("receiver_prolific_failed_deliveries{submission.status.change} = %v, want 0", got)
	}
	if !strings.Contains(e.logs.String(), "prolific reports failed deliveries") {
		t.Error("no warning logged for failed deliveries")
	}
	// Failures older than the window no longer count.
	now = now.Add(FailedDeliveryWindow + time.Minute)
	m.Check(t.Context())
	if got := testutil.ToFloat64(m.failed.WithLabelValues(prolific.EventStudyStatusChange)); got != 0 {
		t.Errorf("an hour later the gauge = %v, want 0", got)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
