package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/verify"
)

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
	pr, pw := io.Pipe()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"fake-prolific", "-addr", "127.0.0.1:0", "-token", token, "-workspace", ws,
			"-secret", secret, "-allow-http-targets", "-time-scale", "60000", "-simulate", "20", "-duration", "10m",
			"-exit-after-simulate"}, pw, io.Discard)
		pw.Close()
	}()

	first := <-lines
	base := strings.Fields(strings.TrimPrefix(first, "fake prolific listening on "))[0]
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("first line %q, want the listen URL", first)
	}
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
