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
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("%s returned %v after shutdown, want nil", what, err)
			return false
		}
		return true
	case <-time.After(within):
		t.Errorf("%s did not stop within %s", what, within)
		return false
	}
}

// freeAddr returns a loopback address nothing listens on, outside the
// ephemeral port range (see internal/testkit).
func freeAddr(t *testing.T) string {
	t.Helper()
	return testkit.FreeAddr(t)
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

func TestRunEndToEnd(t *testing.T) {
	pub, adm := freeAddr(t), freeAddr(t)
	t.Setenv("RECEIVER_LISTEN_ADDR", pub)
	t.Setenv("RECEIVER_ADMIN_ADDR", adm)
	t.Setenv("RECEIVER_STORE", "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	t.Setenv("PROLIFIC_WEBHOOK_SECRET", "e2e-secret")
	t.Setenv("PROLIFIC_API_TOKEN", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := new(testkit.SyncBuffer)
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, []string{"receiver", "serve"}, stdout, stdout) }()
	adminURL := "http://" + adm
	waitReady(t, adminURL, errc)

	studyID := "6650a1b2c3d4e5f6aaaa0001"
	sent := map[string]string{}
	for _, o := range []sendOptions{
		{eventType: prolific.EventStudyStatusChange, resourceID: studyID, status: "ACTIVE"},
		{eventType: prolific.EventStudyProgressChange, resourceID: studyID},
		{eventType: prolific.EventSubmissionStatusChange, status: "AWAITING REVIEW"},
		{eventType: prolific.EventStudyHighReturnRate, resourceID: studyID},
		{eventType: "participant.future.thing", resourceID: "abc"},
	} {
		o.url, o.secret, o.timeout = "http://"+pub+"/hooks/prolific", "e2e-secret", 5*time.Second
		code, body, err := send(ctx, http.DefaultClient, &o)
		if err != nil || code != http.StatusOK {
			t.Fatalf("send %s: %d %s %v", o.eventType, code, body, err)
		}
		sent[o.eventID] = o.eventType
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
