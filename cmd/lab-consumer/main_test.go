package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/outputs"
)

const secret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// TestConsumerAcceptsTheReceiversDeliveries: a delivery signed the way the
// receiver's HTTP output signs is accepted and printed once, a redelivery
// is acknowledged but not printed again, and a tampered body is refused.
func TestConsumerAcceptsTheReceiversDeliveries(t *testing.T) {
	var out bytes.Buffer
	h, err := newHandler(secret, &out)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	key, err := outputs.DecodeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	dest := outputs.NewHTTP(outputs.HTTPSettings{URL: srv.URL, Key: key, Timeout: 5 * time.Second}, "test", nil)
	m := outputs.Message{EventID: "evt-1", EventType: "submission.status.change", Status: "AWAITING REVIEW", Body: []byte(`{}`)}
	for range 2 {
		if err := dest.Deliver(t.Context(), m, m.Encode()); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
	}
	if got := strings.Count(out.String(), `"event_id":"evt-1"`); got != 1 {
		t.Errorf("printed evt-1 %d times, want once:\n%s", got, out.String())
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"event_id":"evt-2"}`))
	req.Header.Set("webhook-id", "evt-2")
	req.Header.Set("webhook-timestamp", "1700000000")
	req.Header.Set("webhook-signature", outputs.Sign(key, "evt-2", 1700000000, []byte(`{"event_id":"evt-3"}`)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("tampered delivery answered %d, want 401", resp.StatusCode)
	}
	if _, err := newHandler("", &out); err == nil {
		t.Error("newHandler without a secret = nil error, want one")
	}
}
