package prolifictest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/verify"
)

func waitIdle(t *testing.T, f *Fake) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v (stats %+v)", err, f.Stats())
	}
}

// TestDeliveryWireFormat checks the exact bytes and headers against the test
// vector in webhooks.md §2.2.
func TestDeliveryWireFormat(t *testing.T) {
	const secret = "test-secret-not-real"
	f := newTestFake(t, func(o *Options) {
		o.Secrets = map[string]string{testWS: secret}
		o.Now = func() time.Time { return time.Unix(1735689600, 0) }
	})
	tg := newTarget(t, nil)
	subscribe(t, f, prolific.EventSubmissionStatusChange, tg.URL+"/hooks/prolific")
	ids, err := f.Emit(testWS, prolific.EventSubmissionStatusChange, "6650a1b2c3d4e5f601234567",
		F("participant_id", "5f1e2d3c4b5a69788796a5b4"), F("status", "AWAITING REVIEW"))
	if err != nil || len(ids) != 1 {
		t.Fatalf("Emit = %v, %v; want one delivery", ids, err)
	}
	waitIdle(t, f)
	got := tg.deliveries()
	if len(got) != 1 {
		t.Fatalf("target got %d requests, want 1", len(got))
	}
	d := got[0]
	wantBody := `{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "submission.status.change", "participant_id": "5f1e2d3c4b5a69788796a5b4", "status": "AWAITING REVIEW"}`
	if string(d.body) != wantBody {
		t.Errorf("body = %s, want %s", d.body, wantBody)
	}
	wantHeaders := map[string]string{
		"Content-Type":                 "application/json",
		"X-Prolific-Request-Signature": "6xRrsWPPufbhR7iL/gaUNzSQqj3M/3+5g//67tFq9VM=",
		"X-Prolific-Request-Timestamp": "1735689600",
		"X-Timestamp":                  "1735689600",
		"X-Event-Id":                   ids[0],
	}
	for k, want := range wantHeaders {
		if got := d.header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if len(ids[0]) != 24 {
		t.Errorf("X-Event-ID %q, want 24 hex characters", ids[0])
	}
	if _, err := prolific.Decode(d.body); err != nil {
		t.Errorf("prolific.Decode(body): %v", err)
	}
}

func TestDeliveryRetriesUntilSuccess(t *testing.T) {
	f := newTestFake(t, nil)
	secret := createSecret(t, f)
	var rotated string
	tg := newTarget(t, func(n int, r *http.Request) int {
		if n == 2 {
			// Rotate between attempts: the next attempt must be signed with the new secret.
			rotated, _ = f.RotateSecret(testWS)
		}
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	subID := subscribe(t, f, prolific.EventStudyStatusChange, tg.URL)
	if _, err := f.Emit(testWS, prolific.EventStudyStatusChange, "6650a1b2c3d4e5f6aaaa0001", F("metadata", Object{}), F("status", "PAUSED")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, f)
	got := tg.deliveries()
	if len(got) != 4 {
		t.Fatalf("target got %d attempts, want 4 (3 x 503 then 200)", len(got))
	}
	eventID, xts := got[0].header.Get("X-Event-Id"), got[0].header.Get("X-Timestamp")
	for i, d := range got {
		if id := d.header.Get("X-Event-Id"); id != eventID {
			t.Errorf("attempt %d X-Event-ID = %q, want %q on every retry", i+1, id, eventID)
		}
		if ts := d.header.Get("X-Timestamp"); ts != xts {
			t.Errorf("attempt %d X-Timestamp = %q, want constant %q", i+1, ts, xts)
		}
		key := secret
		if i >= 2 {
			key = rotated
		}
		if sig := verify.Sign(key, d.header.Get("X-Prolific-Request-Timestamp"), d.body); sig != d.header.Get("X-Prolific-Request-Signature") {
			t.Errorf("attempt %d: signature does not verify with the secret current at that attempt", i+1)
		}
	}
	if s := f.Stats(); s.Attempts != 4 || s.Successes != 1 || s.Failures != 3 || s.Pending != 0 {
		t.Errorf("Stats = %+v, want 4 attempts, 1 success, 3 failures, 0 pending", s)
	}
	st, _, b := call(t, f, "GET", "/api/v1/hooks/subscriptions/"+subID+"/events/", nil)
	events := mustDecode[listBody[struct {
		ID, Status, EventType string
		ResourceID            string `json:"resource_id"`
		Payload               map[string]any
	}]](t, b).Results
	if st != 200 || len(events) != 1 || events[0].ID != eventID || events[0].Status != StatusSucceeded || events[0].Payload["status"] != "PAUSED" {
		t.Errorf("delivery log = %s, want one SUCCEEDED entry with id %s and the payload", b, eventID)
	}
}

func TestBackoffIsScaledFullJitter(t *testing.T) {
	f := newTestFake(t, func(o *Options) { o.TimeScale = 60 }) // 1 min → 1 s
	for n := 1; n <= 11; n++ {
		limit := time.Duration(1<<(n-1)) * time.Second
		for range 50 {
			if d := f.backoff(n); d < 0 || d >= limit {
				t.Fatalf("backoff(%d) = %v, want in [0, %v)", n, d, limit)
			}
		}
	}
}

func TestDeliveryTimeoutAndExhaustion(t *testing.T) {
	f := newTestFake(t, func(o *Options) {
		o.DeliveryTimeout = 50 * time.Millisecond
		o.MaxRetries = 2
	})
	createSecret(t, f)
	tg := newTarget(t, func(n int, r *http.Request) int {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
		return http.StatusOK
	})
	subID := subscribe(t, f, prolific.EventStudyProgressChange, tg.URL)
	if _, err := f.Emit(testWS, prolific.EventStudyProgressChange, "6650a1b2c3d4e5f6aaaa0001"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, f)
	if s := f.Stats(); s.Attempts != 3 || s.Failures != 3 || s.Successes != 0 || s.Exhausted != 1 {
		t.Errorf("Stats = %+v, want 3 timed-out attempts and 1 exhausted delivery", s)
	}
	st, _, b := call(t, f, "GET", "/api/v1/hooks/subscriptions/"+subID+"/events/?status=FAILED", nil)
	if n := len(mustDecode[listBody[struct{ ID string }]](t, b).Results); st != 200 || n != 1 {
		t.Errorf("FAILED events: status %d, %d results, want 1", st, n)
	}
}

func TestDisabledSubscriptionsReceiveNothing(t *testing.T) {
	f := newTestFake(t, nil)
	createSecret(t, f)
	tg := newTarget(t, nil)
	// Unconfirmed: created, never confirmed.
	if st, _, _ := call(t, f, "POST", "/api/v1/hooks/subscriptions/", map[string]string{"workspace_id": testWS, "event_type": prolific.EventStudyStatusChange, "target_url": tg.URL}); st != 201 {
		t.Fatalf("create: status %d", st)
	}
	// Confirmed then paused.
	paused := subscribe(t, f, prolific.EventStudyStatusChange, tg.URL)
	if st, _, _ := call(t, f, "PATCH", "/api/v1/hooks/subscriptions/"+paused+"/", map[string]bool{"is_enabled": false}); st != 200 {
		t.Fatalf("disable: status %d", st)
	}
	// Enabled but for another event type.
	subscribe(t, f, prolific.EventStudyProgressChange, tg.URL)
	ids, err := f.Emit(testWS, prolific.EventStudyStatusChange, "6650a1b2c3d4e5f6aaaa0001", F("metadata", Object{}), F("status", "ACTIVE"))
	if err != nil || len(ids) != 0 {
		t.Fatalf("Emit = %v, %v; want no deliveries", ids, err)
	}
	waitIdle(t, f)
	if n := len(tg.deliveries()); n != 0 {
		t.Errorf("target got %d requests, want 0", n)
	}
}

func TestDeliveryLogFilters(t *testing.T) {
	f := newTestFake(t, func(o *Options) { o.MaxRetries = -1 })
	createSecret(t, f)
	tg := newTarget(t, func(n int, r *http.Request) int {
		if n%2 == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	subID := subscribe(t, f, prolific.EventStudyProgressChange, tg.URL)
	for i := range 6 {
		if _, err := f.Emit(testWS, prolific.EventStudyProgressChange, "study"+strconv.Itoa(i%3)); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, f) // one at a time so odd/even attempts are predictable
	}
	tests := []struct {
		query string
		want  int
	}{
		{"", 6},
		{"?status=SUCCEEDED", 3},
		{"?status=FAILED", 3},
		{`?status=["FAILED","SUCCEEDED"]`, 6},
		{"?resource_id=study1", 2},
		{"?limit=4", 4},
		{"?offset=5", 1},
	}
	for _, tc := range tests {
		st, _, b := call(t, f, "GET", "/api/v1/hooks/subscriptions/"+subID+"/events/"+tc.query, nil)
		if n := len(mustDecode[listBody[struct{ ID string }]](t, b).Results); st != 200 || n != tc.want {
			t.Errorf("events%s: status %d, %d results, want %d", tc.query, st, n, tc.want)
		}
	}
	for _, q := range []string{"?status=DONE", "?limit=0", "?limit=1001"} {
		if st, _, _ := call(t, f, "GET", "/api/v1/hooks/subscriptions/"+subID+"/events/"+q, nil); st != 400 {
			t.Errorf("events%s: status %d, want 400", q, st)
		}
	}
}

func TestLogsCarryNoSecrets(t *testing.T) {
	var lines []string
	var mu sync.Mutex
	const secret = "log-secret-not-real"
	f := newTestFake(t, func(o *Options) {
		o.Secrets = map[string]string{testWS: secret}
		o.MaxRetries = 1
		o.Logf = func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, fmt.Sprintf(format, args...))
		}
	})
	var sigs []string
	tg := newTarget(t, func(n int, r *http.Request) int {
		mu.Lock()
		sigs = append(sigs, r.Header.Get("X-Prolific-Request-Signature"))
		mu.Unlock()
		return http.StatusBadGateway
	})
	subscribe(t, f, prolific.EventStudyProgressChange, tg.URL)
	if _, err := f.Emit(testWS, prolific.EventStudyProgressChange, "6650a1b2c3d4e5f6aaaa0001"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, f)
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 2 || len(sigs) != 2 {
		t.Fatalf("got %d log lines and %d attempts, want 2 each", len(lines), len(sigs))
	}
	for _, l := range lines {
		for _, s := range append([]string{secret}, sigs...) {
			if strings.Contains(l, s) {
				t.Errorf("log line %q contains a secret or signature", l)
			}
		}
	}
}
