package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/rules"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

const e2eRules = `notifiers:
  - name: chat
    type: slack
    url: ${CHAT_URL}
rules:
  - name: study-completed
    trigger:
      study_status: [COMPLETED]
    action:
      type: notify
      notifier: chat
  - name: pause-on-high-return-rate
    trigger:
      event_type: study.has_high_return_rate
    action:
      type: pause
`

// TestRulesEndToEnd: a live rule sends one Slack message for a stored
// event however often Prolific delivers it; a pause without an API token
// ends failed with the reason; the audit is served by /api/v1/actions and
// `receiver rules history`, and the webhook URL's token shows nowhere.
func TestRulesEndToEnd(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.Write([]byte("ok"))
	}))
	defer chat.Close()
	const token = "T000/B000/very-secret-chat-token"
	pub, adm := freeAddr(t), freeAddr(t)
	t.Setenv("RECEIVER_LISTEN_ADDR", pub)
	t.Setenv("RECEIVER_ADMIN_ADDR", adm)
	t.Setenv("RECEIVER_STORE", "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	t.Setenv("PROLIFIC_WEBHOOK_SECRET", "e2e-secret")
	t.Setenv("PROLIFIC_API_TOKEN", "")
	t.Setenv("RECEIVER_ACTIONS", "live")
	t.Setenv("RECEIVER_DASHBOARD_URL", "https://receiver.lab.test/")
	t.Setenv("CHAT_URL", chat.URL+"/services/"+token)
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(e2eRules), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RECEIVER_RULES_FILE", rulesFile)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := new(testkit.SyncBuffer)
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, []string{"receiver", "serve"}, logs, logs) }()
	adminURL := "http://" + adm
	waitReady(t, adminURL, errc)

	completed := sendOptions{eventType: prolific.EventStudyStatusChange, resourceID: "6650a1b2c3d4e5f6aaaa0002", status: "COMPLETED"}
	for i, o := range []sendOptions{completed, {eventType: prolific.EventStudyHighReturnRate, resourceID: "6650a1b2c3d4e5f6aaaa0003"}} {
		o.url, o.secret, o.timeout = "http://"+pub+"/hooks/prolific", "e2e-secret", 5*time.Second
		for range 2 { // Prolific's retry: the same X-Event-ID
			code, body, err := send(ctx, http.DefaultClient, &o)
			if err != nil || code != http.StatusOK {
				t.Fatalf("send %d: %d %s %v", i, code, body, err)
			}
		}
	}
	waitFor(t, "both actions finished", func() bool {
		var page struct {
			Actions []struct{ Outcome string } `json:"actions"`
		}
		if _, err := fetchJSON(adminURL+"/api/v1/actions", &page); err != nil || len(page.Actions) != 2 {
			return false
		}
		for _, a := range page.Actions {
			if a.Outcome == "pending" {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond) // would a second message come?
	mu.Lock()
	got := append([]string(nil), bodies...)
	mu.Unlock()
	if len(got) != 1 || !strings.Contains(got[0], "the study is now COMPLETED") ||
		!strings.Contains(got[0], "https://receiver.lab.test/studies/6650a1b2c3d4e5f6aaaa0002") {
		t.Fatalf("chat got %q, want one message about the completed study with its dashboard link", got)
	}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"receiver", "rules", "history", "-admin-url", adminURL}, &out, &errOut); err != nil {
		t.Fatalf("rules history: %v\n%s", err, errOut.String())
	}
	hist := out.String()
	if !strings.Contains(hist, "study-completed") || !strings.Contains(hist, "done") ||
		!strings.Contains(hist, "failed") || !strings.Contains(hist, "no Prolific API token") {
		t.Errorf("rules history:\n%s\nwant the done message and the failed pause with its reason", hist)
	}
	var failedOnly bytes.Buffer
	if err := run(ctx, []string{"receiver", "rules", "history", "-admin-url", adminURL, "-outcome", "failed", "-json"}, &failedOnly, &errOut); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(failedOnly.String(), "\n"); n != 1 || !strings.Contains(failedOnly.String(), "pause-on-high-return-rate") {
		t.Errorf("failed actions:\n%s\nwant the pause only", failedOnly.String())
	}
	if v := metricSum(t, adminURL, "receiver_rule_actions_total"); v < 2 {
		t.Errorf("receiver_rule_actions_total sums to %v, want at least 2", v)
	}
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for what, text := range map[string]string{"logs": logs.String(), "history": hist, "metrics": string(metrics)} {
		if strings.Contains(text, "very-secret-chat-token") {
			t.Errorf("%s show the chat webhook's token", what)
		}
	}
	if code, _ := fetchJSON(adminURL+"/api/v1/actions?outcome=maybe", &struct{}{}); code != http.StatusBadRequest {
		t.Errorf("outcome=maybe: %d, want 400", code)
	}
	cancel()
	waitStopped(t, errc, "receiver", 10*time.Second)
}

func TestRulesCheckAndTestCommands(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("rules:\n  - name: x\n    trigger:\n      event_type: study.status.change\n    action:\n      type: pause\n      window: soon\n"), 0o600)
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"receiver", "rules", "check", bad}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "line 7: window:") {
		t.Errorf("rules check bad file = %v, want line 7 named", err)
	}
	t.Setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.test/services/T/B/tok")
	t.Setenv("FOLLOWUP_GROUP_ID", "group-9")
	t.Setenv("RECEIVER_OUTPUTS_FILE", "")
	t.Setenv("RECEIVER_ACTIONS", "")
	example := filepath.Join("..", "..", "deploy", "rules.example.yaml")
	out.Reset()
	if err := run(context.Background(), []string{"receiver", "rules", "check", example}, &out, &errOut); err != nil || !strings.Contains(out.String(), "3 rule(s)") {
		t.Fatalf("rules check example = %v %q", err, out.String())
	}
	ev := filepath.Join(dir, "approved.json")
	os.WriteFile(ev, []byte(`{"event_type": "submission.status.change", "resource_id": "sub-1", "status": "APPROVED", "participant_id": "part-1", "study_id": "study-1"}`), 0o600)
	out.Reset()
	if err := run(context.Background(), []string{"receiver", "rules", "test", example, "-event", ev}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	want := `rule follow-up-group (line 28): group_add
  key:     follow-up-group/group_add/group-9/part-1
  mode:    dry-run: recorded, not sent (RECEIVER_ACTIONS is dry-run)
  request: POST /api/v1/participant-groups/group-9/participants/ {"participant_ids": [1: part-1]}
`
	if out.String() != want {
		t.Errorf("rules test printed:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestStartRulesPlacesCursorBeforeServing: on a store where rules never
// ran, startRules records the evaluator's place (the newest stored event)
// before it returns, so before serve opens the listeners: a webhook
// acknowledged in the receiver's first moment, before the engine's first
// pass, is decided on, not taken for history.
func TestStartRulesPlacesCursorBeforeServing(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"), store.Options{})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	defer st.Close()
	ctx := context.Background()
	before := storetest.NewEvent(prolific.EventStudyHighReturnRate, "6650a1b2c3d4e5f6aaaa0001", "", time.Now())
	if _, err := st.Save(ctx, before); err != nil {
		t.Fatal(err)
	}
	cfgRules, err := rules.Parse([]byte(e2eRules), func(k string) string {
		return map[string]string{"CHAT_URL": "https://hooks.slack.test/services/T/B/x"}[k]
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	work, err := startRules(ctx, Config{Rules: cfgRules, ActionsMode: rules.ModeDryRun, ActionsLease: time.Minute},
		st, nil, nil, reg, reg, zerolog.Nop())
	if err != nil || work == nil {
		t.Fatalf("startRules = %v, %v", work != nil, err)
	}
	after := storetest.NewEvent(prolific.EventStudyHighReturnRate, "6650a1b2c3d4e5f6aaaa0002", "", time.Now())
	if _, err := st.Save(ctx, after); err != nil {
		t.Fatal(err)
	}
	if got, err := st.RulesCursor(ctx, after.Seq); err != nil || got != before.Seq {
		t.Fatalf("rules cursor = %d, %v; want %d (the newest event when startRules returned): "+
			"the engine's first pass would place it after the events acknowledged meanwhile", got, err, before.Seq)
	}
}
