package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/outputs"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

// forwardSecret is the outputs' Standard Webhooks secret in these tests.
const forwardSecret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// writeOutputsFile writes deploy/outputs.example.yaml's shape with a NATS
// output added, to a test directory.
func writeOutputsFile(t *testing.T, natsURL string) string {
	t.Helper()
	example, err := os.ReadFile("../../deploy/outputs.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := string(example) + `
  - name: bus
    type: nats
    filter:
      event_types: ["*"]
    nats:
      url: ` + natsURL + `
      subject: prolific.{event_type}.{study_id}
      stream: PROLIFIC
`
	path := filepath.Join(t.TempDir(), "outputs.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOutputsEndToEnd runs the receiver with the example outputs file (an
// HTTP output) and a NATS output: events sent while the HTTP consumer is
// down wait in the outbox, the API and `receiver outputs` show and steer
// them, and after resume every one arrives, verified, under its own ID.
func TestOutputsEndToEnd(t *testing.T) {
	consumer := testkit.NewConsumer(t, forwardSecret)
	consumer.Mode.Store("503")
	ns := testkit.StartNATS(t)
	secretFile := filepath.Join(t.TempDir(), "forward-secret")
	if err := os.WriteFile(secretFile, []byte(forwardSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := new(testkit.SyncBuffer)
	pub, adminURL, errc := serveFromEnv(t, ctx, "e2e-secret", map[string]string{
		"RECEIVER_ADMIN_TOKEN": "admin-token", "FORWARD_URL": consumer.URL + "/prolific",
		"FORWARD_SECRET_FILE": secretFile, "RECEIVER_OUTPUTS_FILE": writeOutputsFile(t, ns.URL()),
	}, logs)

	ids := sendEvents(t, ctx, pub, "e2e-secret",
		sendOptions{eventType: prolific.EventStudyStatusChange, resourceID: "6650a1b2c3d4e5f6aaaa0001", status: "ACTIVE"},
		sendOptions{eventType: prolific.EventSubmissionStatusChange, status: "AWAITING REVIEW"},
		sendOptions{eventType: prolific.EventStudyProgressChange, resourceID: "6650a1b2c3d4e5f6aaaa0001"},
		sendOptions{eventType: prolific.EventStudyStatusChange, resourceID: "6650a1b2c3d4e5f6aaaa0002", status: "COMPLETED"})
	outputsCmd := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(ctx, append([]string{"receiver", "outputs", "-admin-url", adminURL}, args...), &out, &errOut); err != nil {
			t.Fatalf("receiver outputs %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	// Ordered per study: the two events of study 0001 go one after the
	// other, so three are tried first.
	waitFor(t, "the HTTP output to try and fail", func() bool { return consumer.Tried() >= 3 })
	list := outputsCmd("list")
	if !strings.Contains(list, "forward") || !strings.Contains(list, "bus") {
		t.Errorf("outputs list lacks an output:\n%s", list)
	}
	if strings.Contains(list, "whsec_") || strings.Contains(list, "AAECAwQF") {
		t.Errorf("outputs list shows the signing secret:\n%s", list)
	}
	if got := outputsCmd("pause", "forward"); !strings.Contains(got, "paused") {
		t.Errorf("pause said %q", got)
	}
	consumer.Mode.Store("up")
	// Retry-After: 30 keeps the events waiting; retry makes them due now,
	// but the output is paused.
	if got := outputsCmd("retry", "forward"); !strings.Contains(got, "forward: 3 waiting events made due now") {
		t.Errorf("retry said %q, want the 3 failed ones made due", got)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(consumer.Received()); n != 0 {
		t.Errorf("a paused output delivered %d events", n)
	}
	outputsCmd("resume", "forward")
	waitFor(t, "every event at the HTTP consumer", func() bool { return len(consumer.Received()) == len(ids) })
	for _, id := range ids {
		if n := consumer.Received()[id]; n != 1 {
			t.Errorf("event %s delivered %d times, want 1", id, n)
		}
	}
	if n := consumer.BadSignatures(); n != 0 {
		t.Errorf("%d deliveries failed the consumer's signature check", n)
	}
	waitFor(t, "the outbox to empty", func() bool {
		var out struct {
			Outputs []struct {
				Name    string `json:"name"`
				Pending int    `json:"pending"`
			} `json:"outputs"`
		}
		req, _ := http.NewRequest(http.MethodGet, adminURL+"/api/v1/outputs", nil)
		req.Header.Set("Authorization", "Bearer admin-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&out)
		return len(out.Outputs) == 2 && out.Outputs[0].Pending == 0 && out.Outputs[1].Pending == 0
	})
	if got := metricSum(t, adminURL, "receiver_output_delivered_total"); got != float64(2*len(ids)) {
		t.Errorf("receiver_output_delivered_total = %v, want %d (both outputs)", got, 2*len(ids))
	}
	promtoolCheckMetrics(t, adminURL)
	cancel()
	waitStopped(t, errc, "run", 30*time.Second)
	for _, secret := range []string{forwardSecret, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "v1,"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs hold %q", secret)
		}
	}
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, what, 20*time.Second, 20*time.Millisecond, cond)
}

// TestBadOutputsFileStopsStart: a mistake in the outputs file keeps the
// receiver from starting, and the error names the variable, the line and
// the field, never the secret.
func TestBadOutputsFileStopsStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outputs.yaml")
	file := "outputs:\n  - name: lab\n    type: http\n    filter: {event_types: [\"*\"]}\n    http:\n      url: https://lab.example\n      secret: ${FORWARD_SECRET}\n      timeout: soon\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PROLIFIC_WEBHOOK_SECRET", "s")
	t.Setenv("RECEIVER_OUTPUTS_FILE", path)
	t.Setenv("FORWARD_SECRET", forwardSecret)
	var out bytes.Buffer
	err := run(context.Background(), []string{"receiver", "serve"}, &out, &out)
	if err == nil {
		t.Fatal("serve with a bad outputs file = nil error, want a refusal")
	}
	for _, want := range []string{"RECEIVER_OUTPUTS_FILE", "line 8", "http.timeout", `"soon"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error()+out.String(), "AAECAwQF") {
		t.Error("the error or the log holds the signing secret")
	}
}

// TestDestinationHidesCredentials: what the API and the log show of a
// destination has no user, password, query or fragment.
func TestDestinationHidesCredentials(t *testing.T) {
	subj, err := outputs.ParseSubject("prolific.{event_type}")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		out  outputs.Output
		want string
	}{
		{outputs.Output{Type: "http", HTTP: outputs.HTTPSettings{URL: "https://user:pw@lab.example/hook?token=hush#x"}}, "https://lab.example/hook"},
		{outputs.Output{Type: "nats", NATS: outputs.NATSSettings{URL: "nats://u:pw@bus:4222", Subject: subj}}, "nats://bus:4222 prolific.{event_type}"},
	}
	for _, tc := range tests {
		if got := destination(tc.out); got != tc.want {
			t.Errorf("destination(%s) = %q, want %q", tc.out.Type, got, tc.want)
		}
	}
}

func TestOutputsCommandArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"pause"}, "name the output"},
		{[]string{"resume", "a", "b"}, `unexpected argument "b"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"list", "x"}, `unexpected argument "x"`},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"receiver", "outputs", "-admin-url", "http://127.0.0.1:1"}, tc.args...), &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("outputs %v = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	// The flag may come before or after the name.
	for _, args := range [][]string{{"retry", "-dead-letters", "lab"}, {"retry", "lab", "-dead-letters"}} {
		fs, dead := newRetryFlags()
		name, err := oneName("retry", args[1:], fs)
		if err != nil || name != "lab" || !*dead {
			t.Errorf("oneName(%v) = %q, %v (dead letters %v), want lab with -dead-letters", args, name, err, *dead)
		}
	}
}
