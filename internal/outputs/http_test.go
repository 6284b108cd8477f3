package outputs

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// TestSignVerifiesWithLibrary: the off-the-shelf Standard Webhooks
// library accepts what Sign produces, and rejects a changed body.
func TestSignVerifiesWithLibrary(t *testing.T) {
	key, err := DecodeSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	hook, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"event_id":"evt-1"}`)
	ts := time.Now().Unix()
	h := http.Header{}
	h.Set("webhook-id", "evt-1")
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", Sign(key, "evt-1", ts, body))
	if err := hook.Verify(body, h); err != nil {
		t.Errorf("library Verify(our signature) = %v, want nil", err)
	}
	if err := hook.Verify([]byte(`{"event_id":"evt-2"}`), h); err == nil {
		t.Error("library Verify(changed body) = nil, want an error")
	}
	want, err := hook.Sign("evt-1", time.Unix(ts, 0), body)
	if err != nil {
		t.Fatal(err)
	}
	if got := Sign(key, "evt-1", ts, body); got != want {
		t.Errorf("Sign = %q, library signs %q", got, want)
	}
}

func TestHTTPAnswers(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		header    string
		wantErr   error // nil, ErrGone, or a *RetryError
		wantAfter time.Duration
	}{
		{"200 delivered", 200, "", nil, 0},
		{"204 delivered", 204, "", nil, 0},
		{"410 gone", 410, "", ErrGone, 0},
		{"429 with seconds", 429, "7", &RetryError{}, 7 * time.Second},
		{"503 with a date", 503, time.Now().Add(time.Minute).UTC().Format(http.TimeFormat), &RetryError{}, time.Minute},
		{"500 retried", 500, "", &RetryError{}, 0},
		{"400 retried too", 400, "", &RetryError{}, 0},
		{"redirect not followed", 302, "", &RetryError{}, 0},
	}
	key, _ := DecodeSecret(testSecret)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				if tc.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			h := NewHTTP(HTTPSettings{URL: srv.URL + "/x?token=hush", Key: key, Timeout: time.Second}, "t", nil)
			err := h.Deliver(context.Background(), Message{EventID: "e"}, []byte(`{}`))
			var re *RetryError
			switch want := tc.wantErr.(type) {
			case nil:
				if err != nil {
					t.Errorf("Deliver = %v, want nil", err)
				}
			case *RetryError:
				if !errors.As(err, &re) {
					t.Fatalf("Deliver = %v, want a RetryError", err)
				}
				if d := re.After - tc.wantAfter; d < -2*time.Second || d > 0 {
					t.Errorf("Retry-After = %s, want %s", re.After, tc.wantAfter)
				}
			default:
				if !errors.Is(err, want) {
					t.Errorf("Deliver = %v, want %v", err, want)
				}
			}
			if err != nil && (strings.Contains(err.Error(), "hush") || strings.Contains(err.Error(), "v1,")) {
				t.Errorf("error %q holds the URL's token or a signature", err)
			}
		})
	}
}
