package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/notify"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// startRun starts the program through run on a free loopback port with
// args after -addr and returns the base URL from its first line, the rest
// of its stdout line by line (closed when run returns) and run's result.
func startRun(t *testing.T, ctx context.Context, args ...string) (base string, lines <-chan string, done <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	out := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out <- sc.Text()
		}
		close(out)
	}()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, append([]string{"fake-prolific", "-addr", "127.0.0.1:0"}, args...), pw, io.Discard)
		pw.Close()
	}()
	first := <-out
	const prefix = "fake prolific listening on "
	if !strings.HasPrefix(first, prefix) {
		t.Fatalf("first line %q, want the listen URL", first)
	}
	base = strings.Fields(strings.TrimPrefix(first, prefix))[0]
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("first line %q, want the listen URL", first)
	}
	return base, out, errc
}

// TestRunSimulates starts the program through run on a free port, subscribes
// a local target through the API, and waits for the simulated study.
func TestRunSimulates(t *testing.T) {
	const token, ws, secret = "tok", "000000000000000000000009", "demo-secret-not-real"
	var received, badSig atomic.Int64
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if verify.Sign(secret, r.Header.Get("X-Prolific-Request-Timestamp"), b) != r.Header.Get("X-Prolific-Request-Signature") {
			badSig.Add(1)
		}
		received.Add(1)
	}))
	defer tg.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	base, lines, done := startRun(t, ctx, "-token", token, "-workspace", ws,
		"-secret", secret, "-allow-http-targets", "-time-scale", "60000", "-simulate", "20", "-duration", "10m",
		"-exit-after-simulate")
	api := func(method, path string, body any) (*http.Response, []byte) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Token "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		return resp, rb
	}
	// The simulation starts once every default event type is subscribed.
	for _, et := range prolific.DefaultEventTypes {
		resp, b := api("POST", "/api/v1/hooks/subscriptions/", map[string]string{"workspace_id": ws, "event_type": et, "target_url": tg.URL})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create subscription: %d %s", resp.StatusCode, b)
		}
		var sub struct{ ID string }
		_ = json.Unmarshal(b, &sub)
		if resp, b := api("POST", "/api/v1/hooks/subscriptions/"+sub.ID+"/", map[string]string{"secret": resp.Header.Get("X-Hook-Secret")}); resp.StatusCode != http.StatusOK {
			t.Fatalf("confirm: %d %s", resp.StatusCode, b)
		}
	}

	var last string
	for l := range lines {
		last = l
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	var res struct {
		StudyID     string
		Submissions map[string]int
		PlacesTaken int
		PlacesTotal int
	}
	if err := json.Unmarshal([]byte(last), &res); err != nil {
		t.Fatalf("last line %q is not the JSON result: %v", last, err)
	}
	if res.PlacesTaken != 20 || res.PlacesTotal != 20 || res.Submissions["APPROVED"]+res.Submissions["REJECTED"] != 20 {
		t.Errorf("result %+v, want 20/20 places and 20 reviewed submissions", res)
	}
	if received.Load() == 0 || badSig.Load() != 0 {
		t.Errorf("target got %d deliveries, %d with a bad signature; want some, none bad", received.Load(), badSig.Load())
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"x", "-create-shape", "list"}, {"x", "-token", ""}, {"x", "extra"}, {"x", "-nope"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded, want an error", args)
		}
	}
}

// TestRunDemoExtras: the sink prints Slack, Teams and SMTP messages, the
// default participant group exists, actions are printed and recorded.
func TestRunDemoExtras(t *testing.T) {
	const token, ws = "tok", "000000000000000000000009"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	base, lines, done := startRun(t, ctx, "-token", token, "-workspace", ws, "-smtp-sink", "127.0.0.1:0")
	next := func(prefix string) string {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("output ended before a line starting %q", prefix)
				}
				if strings.HasPrefix(l, prefix) {
					return l
				}
			case <-ctx.Done():
				t.Fatalf("no line starting %q", prefix)
			}
		}
	}
	smtpAddr := strings.Fields(strings.TrimPrefix(next("smtp sink listening on "), "smtp sink listening on "))[0]
	if l := next("participant groups: "); !strings.Contains(l, DefaultGroupID) {
		t.Errorf("groups line %q, want the default group", l)
	}

	msg := notify.Message{Subject: "Wave 1: 3 submissions await review", Text: "3 arrived since the last message."}
	slack, err := notify.NewSlack(base + "/_sink/slack/T/B/demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := slack.Send(ctx, msg); err != nil {
		t.Fatalf("Slack to sink: %v", err)
	}
	if l := next("--- slack message"); l == "" {
		t.Fatal("no slack message printed")
	}
	if l := next("  "); l != "  "+msg.Subject {
		t.Errorf("printed %q, want the subject", l)
	}
	teams, _ := notify.NewTeams(base + "/_sink/teams/demo")
	if err := teams.Send(ctx, msg); err != nil {
		t.Fatalf("Teams to sink: %v", err)
	}
	next("--- teams message")
	host, port, _ := net.SplitHostPort(smtpAddr)
	p, _ := strconv.Atoi(port)
	mail, err := notify.NewSMTP(notify.SMTPConfig{Host: host, Port: p, Security: notify.SecurityNone,
		From: "receiver@lab.example", To: []string{"pi@lab.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := mail.Send(ctx, msg); err != nil {
		t.Fatalf("SMTP to sink: %v", err)
	}
	if l := next("--- smtp message"); !strings.Contains(l, "pi@lab.example") {
		t.Errorf("printed %q, want the recipient", l)
	}

	c := prolific.New(base, token, prolific.WithRetry(0, time.Millisecond, time.Millisecond))
	if _, err := c.AddParticipantsToGroup(ctx, DefaultGroupID, []string{"p1"}); err != nil {
		t.Fatalf("add to the default group: %v", err)
	}
	if l := next("prolific action: "); !strings.Contains(l, `{"participant_ids":["p1"]} -> 200`) {
		t.Errorf("action line %q, want the request and its status", l)
	}
	resp, err := http.Get(base + "/_fake/calls?route=add-to-participant-group")
	if err != nil {
		t.Fatal(err)
	}
	var calls []struct{ Path string }
	_ = json.NewDecoder(resp.Body).Decode(&calls)
	resp.Body.Close()
	if len(calls) != 1 || calls[0].Path != "/api/v1/participant-groups/"+DefaultGroupID+"/participants/" {
		t.Errorf("call record = %+v, want the one group call", calls)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
