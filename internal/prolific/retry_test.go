package prolific

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/testkit"
)

func TestRetriesByStatus(t *testing.T) {
	ok := status(200, `{"id":"st1"}`)
	tests := []struct {
		name     string
		steps    []func(http.ResponseWriter)
		wantN    int   // requests the server sees
		wantErr  error // nil means success
		wantCode int
	}{
		{name: "429 then ok", steps: fs(status(429, "", "Retry-After", "0"), ok), wantN: 2},
		{name: "503 twice then ok", steps: fs(status(503, ""), status(503, ""), ok), wantN: 3},
		{name: "500 then ok", steps: fs(status(500, ""), ok), wantN: 2},
		{name: "429 until exhausted", steps: fs(status(429, "")), wantN: 4, wantErr: ErrRateLimited, wantCode: 429},
		{name: "400 not retried", steps: fs(status(400, `{"error":{"status":400,"error_code":1,"title":"Bad Request","detail":"x"}}`), ok), wantN: 1, wantCode: 400},
		{name: "401 not retried", steps: fs(status(401, ""), ok), wantN: 1, wantErr: ErrUnauthorized, wantCode: 401},
		{name: "403 not retried", steps: fs(status(403, ""), ok), wantN: 1, wantErr: ErrUnauthorized, wantCode: 403},
		{name: "404 not retried", steps: fs(status(404, ""), ok), wantN: 1, wantErr: ErrNotFound, wantCode: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, sequence(tc.steps...))
			_, err := rec.client().Study(t.Context(), "st1")
			if n := len(rec.requests()); n != tc.wantN {
				t.Errorf("requests = %d, want %d", n, tc.wantN)
			}
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.wantCode {
				t.Fatalf("err = %v, want *APIError with status %d", err, tc.wantCode)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("errors.Is(%v, %v) = false, want true", err, tc.wantErr)
			}
		})
	}
}

func fs(f ...func(http.ResponseWriter)) []func(http.ResponseWriter) { return f }

// TestCreateRetriesOnlyWhenSafe: a create is repeated after 429/503 but not
// after a 500 or a dropped connection, where Prolific may already have acted.
func TestCreateRetriesOnlyWhenSafe(t *testing.T) {
	created := status(201, `{"id":"s1","event_type":"e","target_url":"https://x/"}`, HeaderHookSecret, "hs")
	tests := []struct {
		name    string
		respond func(w http.ResponseWriter, r *http.Request, n int)
		wantN   int
		wantOK  bool
	}{
		{name: "429 retried", respond: sequence(status(429, ""), created), wantN: 2, wantOK: true},
		{name: "503 retried", respond: sequence(status(503, ""), created), wantN: 2, wantOK: true},
		{name: "500 not retried", respond: sequence(status(500, ""), created), wantN: 1},
		{name: "502 not retried", respond: sequence(status(502, ""), created), wantN: 1},
		{name: "hang-up not retried", respond: func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 0 {
				hangUp(t, w)
				return
			}
			created(w)
		}, wantN: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, tc.respond)
			_, hs, err := rec.client().CreateSubscription(t.Context(), "w", "e", "https://x/")
			if n := len(rec.requests()); n != tc.wantN {
				t.Errorf("requests = %d, want %d", n, tc.wantN)
			}
			if gotOK := err == nil; gotOK != tc.wantOK {
				t.Fatalf("err = %v, want success %v", err, tc.wantOK)
			}
			if tc.wantOK && hs != "hs" {
				t.Errorf("hook secret = %q, want %q", hs, "hs")
			}
		})
	}
}

func TestNetworkErrorRetried(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			hangUp(t, w)
			return
		}
		reply(w, 200, `{"id":"st1","status":"ACTIVE"}`)
	})
	var codes []int
	var mu sync.Mutex
	c := rec.client(WithObserver(func(ep string, code int) {
		mu.Lock()
		defer mu.Unlock()
		if ep != "studies.get" {
			t.Errorf("observer endpoint = %q, want studies.get", ep)
		}
		codes = append(codes, code)
	}))
	s, err := c.Study(t.Context(), "st1")
	if err != nil || s.Status != "ACTIVE" {
		t.Fatalf("Study = %+v, %v, want ACTIVE, nil", s, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(codes) != 2 || codes[0] != 0 || codes[1] != 200 {
		t.Errorf("observed codes = %v, want [0 200]", codes)
	}
}

// TestRefusedConnectionRetriedEvenForCreate: nothing listens, so the server
// cannot have acted and even a create may be repeated.
func TestRefusedConnectionRetriedEvenForCreate(t *testing.T) {
	addr := testkit.FreeAddr(t) // nothing listens here
	var mu sync.Mutex
	attempts := 0
	c := New("http://"+addr, testToken, WithRetry(2, time.Millisecond, 2*time.Millisecond),
		WithObserver(func(string, int) { mu.Lock(); attempts++; mu.Unlock() }))
	_, _, err := c.CreateSubscription(t.Context(), "w", "e", "https://x/")
	if err == nil {
		t.Fatal("err = nil, want connection refused")
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts != 3 {
		t.Errorf("attempts = %d, want 3", attempts)
	}
}

func TestRetryAfterHonouredAndCapped(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		maxDelay   time.Duration
		min, max   time.Duration
	}{
		{name: "seconds honoured", retryAfter: "1", maxDelay: 5 * time.Second, min: 900 * time.Millisecond, max: 4 * time.Second},
		{name: "capped by max delay", retryAfter: "120", maxDelay: 30 * time.Millisecond, min: 20 * time.Millisecond, max: 2 * time.Second},
		{name: "past HTTP date means now", retryAfter: "Mon, 02 Jan 2006 15:04:05 GMT", maxDelay: 5 * time.Second, min: 0, max: 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var times []time.Time
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				mu.Lock()
				times = append(times, time.Now())
				mu.Unlock()
				if n == 0 {
					reply(w, 429, "", "Retry-After", tc.retryAfter)
					return
				}
				reply(w, 200, `{}`)
			})
			c := New(rec.srv.URL, testToken, WithRetry(2, time.Millisecond, tc.maxDelay))
			if _, err := c.Study(t.Context(), "st1"); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if gap := times[1].Sub(times[0]); gap < tc.min || gap > tc.max {
				t.Errorf("wait between attempts = %v, want within [%v, %v]", gap, tc.min, tc.max)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	c := New("", testToken, WithRetry(10, 100*time.Millisecond, time.Second))
	c.jitter = func(ceiling time.Duration) time.Duration { return ceiling } // the top of each range
	tests := []struct {
		attempt    int
		retryAfter time.Duration
		want       time.Duration
	}{
		{0, -1, 100 * time.Millisecond},
		{1, -1, 200 * time.Millisecond},
		{3, -1, 800 * time.Millisecond},
		{4, -1, time.Second},
		{60, -1, time.Second},
		{0, 300 * time.Millisecond, 300 * time.Millisecond},
		{0, time.Hour, time.Second},
	}
	for _, tc := range tests {
		if got := c.backoff(tc.attempt, tc.retryAfter); got != tc.want {
			t.Errorf("backoff(%d, %v) = %v, want %v", tc.attempt, tc.retryAfter, got, tc.want)
		}
	}
	for range 100 {
		if d := fullJitter(50 * time.Millisecond); d < 0 || d > 50*time.Millisecond {
			t.Fatalf("fullJitter(50ms) = %v, want within [0, 50ms]", d)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-5", 0, false},
		{"soon", 0, false},
		{"Wed, 01 Jan 2025 12:00:10 GMT", 10 * time.Second, true},
		{"Wed, 01 Jan 2025 11:00:00 GMT", 0, true},
	}
	for _, tc := range tests {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v, want %v, %v", tc.in, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 503, "", "Retry-After", "30")
		cancel()
	})
	c := New(rec.srv.URL, testToken, WithRetry(5, time.Millisecond, time.Minute))
	start := time.Now()
	_, err := c.Study(ctx, "st1")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("call took %v, want it to stop promptly", d)
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestPerAttemptTimeoutRetried(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		reply(w, 200, `{"id":"st1"}`)
	})
	c := rec.client(WithTimeout(50 * time.Millisecond))
	if _, err := c.Study(t.Context(), "st1"); err != nil {
		t.Fatalf("Study: %v, want success after a timed-out attempt", err)
	}
	if n := len(rec.requests()); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}
