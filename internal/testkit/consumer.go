package testkit

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Consumer is a lab's HTTP endpoint for the receiver's outputs: it
// verifies each delivery with the off-the-shelf Standard Webhooks library
// and answers as its mode says: "up" (204, recorded), "503" (with
// Retry-After: 30), "500", "410", or "slow" (answers nothing for Slow).
type Consumer struct {
	URL  string
	Mode atomic.Value
	Slow time.Duration

	hook   *standardwebhooks.Webhook
	mu     sync.Mutex
	got    map[string]int
	order  []string
	tried  atomic.Int64
	badSig atomic.Int64
}

// NewConsumer starts a consumer for secret (whsec_...), up, closed when t
// ends.
func NewConsumer(t testing.TB, secret string) *Consumer {
	t.Helper()
	hook, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("standardwebhooks.NewWebhook: %v", err)
	}
	c := &Consumer{hook: hook, got: map[string]int{}, Slow: 2 * time.Second}
	c.Mode.Store("up")
	srv := httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

func (c *Consumer) serve(w http.ResponseWriter, r *http.Request) {
	c.tried.Add(1)
	body, _ := io.ReadAll(r.Body)
	switch c.Mode.Load().(string) {
	case "503":
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case "500":
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	case "410":
		w.WriteHeader(http.StatusGone)
		return
	case "slow":
		select {
		case <-time.After(c.Slow):
		case <-r.Context().Done():
		}
		return
	}
	if err := c.hook.Verify(body, r.Header); err != nil {
		c.badSig.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var m struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.EventID != r.Header.Get("webhook-id") {
		c.badSig.Add(1)
		http.Error(w, "body's event_id is not the webhook-id", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.got[m.EventID]++
	c.order = append(c.order, m.EventID)
	c.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Received returns how often each event ID was accepted.
func (c *Consumer) Received() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.got {
		out[k] = v
	}
	return out
}

// Tried counts every request, accepted or not.
func (c *Consumer) Tried() int64 { return c.tried.Load() }

// BadSignatures counts requests that failed verification.
func (c *Consumer) BadSignatures() int64 { return c.badSig.Load() }
