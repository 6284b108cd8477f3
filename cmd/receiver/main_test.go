package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

// waitStopped waits up to within for a receiver that was told to stop
// (its context cancelled) to return from errc, and reports, naming it what,
// an error return or a receiver still running. It returns false then.
func waitStopped(t *testing.T, errc <-chan error, what string, within time.Duration) bool {
	t.Helper()
	return testkit.Stopped(t, errc, what, within)
}

// freeAddr returns a loopback address nothing listens on, outside the
// ephemeral port range (see internal/testkit).
func freeAddr(t *testing.T) string {
	t.Helper()
	return testkit.FreeAddr(t)
}

// testConfig is the configuration every receiver under test starts from:
// loadConfig's defaults with no environment (the API at Prolific's URL,
// the default event types, no API token) but no bootstrap and a short
// shutdown, on store; edit (when not nil) changes it, and it is validated.
func testConfig(t *testing.T, store string, edit func(*Config)) Config {
	t.Helper()
	cfg := Config{
		Store: store, APIURL: "https://api.prolific.com", EventTypes: prolific.DefaultEventTypes,
		TimestampTolerance: 26 * time.Hour, FutureTolerance: 5 * time.Minute, MaxBodyBytes: 1 << 20,
		LogLevel: "info", LogFormat: "json", SecretGrace: 26 * time.Hour, StudyRetention: 720 * time.Hour,
		ShutdownTimeout: 10 * time.Second, EnrichDebounce: 2 * time.Second, APIRateLimit: 5,
	}
	// ShutdownTimeout is above net/http's 5 s grace for a connection that
	// has sent no request yet: a client's spare dial (a test's parallel
	// GETs) holds Shutdown that long, and at 5 s the drain ran out on a
	// loaded machine ("context deadline exceeded" from a replica told to
	// stop).
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// runReceiver runs serve with cfg until ctx is done, logging as cfg says
// into logs, and returns serve's result once the admin listener is ready.
func runReceiver(t *testing.T, ctx context.Context, cfg Config) (logs *testkit.SyncBuffer, errc <-chan error) {
	t.Helper()
	logs = new(testkit.SyncBuffer)
	log, err := newLogger(logs, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, nil) }()
	waitReady(t, "http://"+cfg.AdminAddr, done)
	return logs, done
}

// waitReady polls /readyz until it answers 200.
func waitReady(t *testing.T, adminURL string, errc <-chan error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			t.Fatalf("receiver exited before it was ready: %v", err)
		default:
		}
		resp, err := http.Get(adminURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("receiver not ready within 20s")
}

// serveFromEnv runs `receiver serve` through run until ctx is done,
// configured from the environment as in its container: fresh loopback
// ports, a temporary SQLite file, the webhook secret, no API token, and
// env besides. Its output goes to out. It returns the public address and
// the admin URL, with run's result, once the receiver is ready.
func serveFromEnv(t *testing.T, ctx context.Context, secret string, env map[string]string, out io.Writer) (pub, adminURL string, errc <-chan error) {
	t.Helper()
	pub, adm := freeAddr(t), freeAddr(t)
	t.Setenv("RECEIVER_LISTEN_ADDR", pub)
	t.Setenv("RECEIVER_ADMIN_ADDR", adm)
	t.Setenv("RECEIVER_STORE", "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	t.Setenv("PROLIFIC_WEBHOOK_SECRET", secret)
	t.Setenv("PROLIFIC_API_TOKEN", "")
	for k, v := range env {
		t.Setenv(k, v)
	}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"receiver", "serve"}, out, out) }()
	adminURL = "http://" + adm
	waitReady(t, adminURL, done)
	return pub, adminURL, done
}

// sendEvents signs each of events with secret, as `receiver send` does,
// posts it to the receiver listening on pub, and returns their event IDs
// in order; any answer but 200 fails the test.
func sendEvents(t *testing.T, ctx context.Context, pub, secret string, events ...sendOptions) []string {
	t.Helper()
	ids := make([]string, 0, len(events))
	for i, o := range events {
		o.url, o.secret, o.timeout = "http://"+pub+"/hooks/prolific", secret, 5*time.Second
		code, body, err := send(ctx, http.DefaultClient, &o)
		if err != nil || code != http.StatusOK {
			t.Fatalf("send %d (%s): %d %s %v", i, o.eventType, code, body, err)
		}
		ids = append(ids, o.eventID)
	}
	return ids
}

func TestRunEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := new(testkit.SyncBuffer)
	pub, adminURL, errc := serveFromEnv(t, ctx, "e2e-secret", nil, stdout)

	studyID := "6650a1b2c3d4e5f6aaaa0001"
	events := []sendOptions{
		{eventType: prolific.EventStudyStatusChange, resourceID: studyID, status: "ACTIVE"},
		{eventType: prolific.EventStudyProgressChange, resourceID: studyID},
		{eventType: prolific.EventSubmissionStatusChange, status: "AWAITING REVIEW"},
		{eventType: prolific.EventStudyHighReturnRate, resourceID: studyID},
		{eventType: "participant.future.thing", resourceID: "abc"},
	}
	sent := map[string]string{}
	for i, id := range sendEvents(t, ctx, pub, "e2e-secret", events...) {
		sent[id] = events[i].eventType
	}
	var list struct {
		Events []struct {
			EventID   string `json:"event_id"`
			EventType string `json:"event_type"`
		} `json:"events"`
	}
	resp, err := http.Get(adminURL + "/api/v1/events?limit=10")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Events) != len(sent) {
		t.Fatalf("read back %d events, want %d", len(list.Events), len(sent))
	}
	for _, e := range list.Events {
		if sent[e.EventID] != e.EventType {
			t.Errorf("event %s type %s, want %s", e.EventID, e.EventType, sent[e.EventID])
		}
	}
	var study struct {
		Status               string `json:"status"`
		HighReturnRateEvents int    `json:"high_return_rate_events"`
	}
	resp, err = http.Get(adminURL + "/api/v1/studies/" + studyID)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&study)
	resp.Body.Close()
	if study.Status != "ACTIVE" || study.HighReturnRateEvents != 1 {
		t.Errorf("study = %+v, want ACTIVE with 1 high-return-rate event", study)
	}

	promtoolCheckMetrics(t, adminURL)
	// Sent one after another, each delivery was a group commit of its own.
	resp, err = http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposition, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		fmt.Sprintf("receiver_store_batch_events_count %d", len(sent)),
		fmt.Sprintf("receiver_store_batch_events_sum %d", len(sent)),
		fmt.Sprintf("receiver_store_batch_duration_seconds_count %d", len(sent)),
	} {
		if !strings.Contains(string(exposition), line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}

	cancel()
	if !waitStopped(t, errc, "run", 30*time.Second) {
		t.FailNow()
	}
	logs := stdout.String()
	if !strings.Contains(logs, "receiver stopped") {
		t.Errorf("no clean-stop log line in:\n%s", logs)
	}
	if strings.Contains(logs, "e2e-secret") {
		t.Error("the webhook secret appears in the logs")
	}
}

func TestServeRefusesToStartWithoutSecret(t *testing.T) {
	t.Setenv("PROLIFIC_WEBHOOK_SECRET", "")
	t.Setenv("PROLIFIC_API_TOKEN", "")
	t.Setenv("RECEIVER_STORE", "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	err := run(context.Background(), []string{"receiver"}, new(bytes.Buffer), new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "PROLIFIC_WEBHOOK_SECRET") {
		t.Fatalf("run() = %v, want an error naming PROLIFIC_WEBHOOK_SECRET", err)
	}
}

func TestConfigFromFilesAndValidation(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	writeFile(t, secretFile, "from-file\n")
	t.Setenv("PROLIFIC_WEBHOOK_SECRET", "")
	t.Setenv("PROLIFIC_WEBHOOK_SECRET_FILE", secretFile)
	t.Setenv("PROLIFIC_WEBHOOK_PREVIOUS_SECRETS", "a,b")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if cfg.WebhookSecret != "from-file" || len(cfg.PreviousSecrets) != 2 {
		t.Errorf("secret %q previous %v, want from-file and 2 previous", cfg.WebhookSecret, cfg.PreviousSecrets)
	}
	if cfg.ListenAddr != ":8080" || cfg.AdminAddr != "127.0.0.1:9090" || cfg.MaxBodyBytes != 1<<20 || cfg.TimestampTolerance != 26*time.Hour ||
		cfg.ReconcileInterval != 15*time.Minute || cfg.ReconcileSettle != 30*time.Second {
		t.Errorf("defaults wrong: %+v", cfg)
	}
	for _, tc := range []struct{ env, value, want string }{
		{"RECEIVER_STORE", "mysql://x", "RECEIVER_STORE"},
		{"RECEIVER_LOG_FORMAT", "xml", "RECEIVER_LOG_FORMAT"},
		{"RECEIVER_TLS_CERT_FILE", "/x.pem", "RECEIVER_TLS_KEY_FILE"},
		{"RECEIVER_MAX_BODY_BYTES", "10", "RECEIVER_MAX_BODY_BYTES"},
		{"RECEIVER_SWEEP_INTERVAL", "-1m", "RECEIVER_SWEEP_INTERVAL"},
		{"RECEIVER_PROLIFIC_RATE_LIMIT", "0", "RECEIVER_PROLIFIC_RATE_LIMIT"},
		{"RECEIVER_PROLIFIC_RATE_LIMIT_PAUSE", "500ms", "RECEIVER_PROLIFIC_RATE_LIMIT_PAUSE"},
		{"RECEIVER_PROLIFIC_RATE_LIMIT_PAUSE", "1h", "RECEIVER_PROLIFIC_RATE_LIMIT_PAUSE"},
		{"RECEIVER_EVENT_RETENTION", "24h", "RECEIVER_EVENT_RETENTION"},
		{"RECEIVER_EVENT_RETENTION", "-1h", "RECEIVER_EVENT_RETENTION"},
		{"RECEIVER_RECONCILE_INTERVAL", "-1m", "RECEIVER_RECONCILE_INTERVAL"},
		{"RECEIVER_RECONCILE_SETTLE", "-1s", "RECEIVER_RECONCILE_SETTLE"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			_, err := loadConfig()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s=%s: loadConfig() = %v, want an error naming %s", tc.env, tc.value, err, tc.want)
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	err := run(context.Background(), []string{"receiver", "frobnicate"}, new(bytes.Buffer), new(bytes.Buffer))
	if exitCode(err) != 2 {
		t.Errorf("unknown command: %v (exit %d), want a usage error", err, exitCode(err))
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"receiver", "version"}, &out, &out); err != nil || !strings.Contains(out.String(), version) {
		t.Errorf("version: %v %q", err, out.String())
	}
}

// TestGCDefault: serve collects at 400 % unless the operator set GOGC.
func TestGCDefault(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	gcDefault(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GC percent without GOGC = %d, want %d", got, gcPercent)
	}
	gcDefault(func(k string) string {
		if k == "GOGC" {
			return "50"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent with GOGC set = %d, want it left alone (100)", got)
	}
}

// RECEIVER_PROLIFIC_RATE_LIMIT_PAUSE is the shared limiter's pause after a
// 429: the first lasts that long and the next, without a success between,
// twice as long.
func TestProlificLimiterPause(t *testing.T) {
	t.Setenv("PROLIFIC_WEBHOOK_SECRET", "s")
	t.Setenv("RECEIVER_PROLIFIC_RATE_LIMIT_PAUSE", "7s")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	lim := newProlificLimiter(cfg)
	start := time.Now()
	if got := lim.RateLimited().Sub(start); got < 7*time.Second || got > 8*time.Second {
		t.Errorf("first pause %v, want 7s", got)
	}
	if got := lim.RateLimited().Sub(start); got < 14*time.Second || got > 15*time.Second {
		t.Errorf("second pause %v, want 14s", got)
	}
}
