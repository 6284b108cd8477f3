package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prolific-receiver/receiver/internal/delivery"
	"github.com/prolific-receiver/receiver/internal/store"
)

// hangingSaver holds the first Save until its context ends and then
// returns the context's error, as the store's batcher does for an event
// still queued when its sender leaves; later Saves reach the real store.
type hangingSaver struct {
	Saver
	entered  chan struct{}
	returned chan struct{}
	calls    atomic.Int32
}

func (h *hangingSaver) Save(ctx context.Context, e *store.Event) (store.Outcome, error) {
	if h.calls.Add(1) > 1 {
		return h.Saver.Save(ctx, e)
	}
	defer close(h.returned)
	close(h.entered)
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestSenderHangUpIsNotAStoreError: a sender that hangs up while its event
// waits for the store is counted as cancelled, logged at info, and never
// raises receiver_store_errors_total (whose alert pages someone); its retry
// under the same X-Event-ID is stored.
func TestSenderHangUpIsNotAStoreError(t *testing.T) {
	h := &hangingSaver{entered: make(chan struct{}), returned: make(chan struct{})}
	tr := newTestReceiver(t, func(d *Deps) { h.Saver = d.Saver; d.Saver = h })
	ctx, cancel := context.WithCancel(context.Background())
	id := delivery.NewID()
	body := submissionBody(delivery.NewID(), "APPROVED")
	req, err := delivery.NewRequest(ctx, tr.public.URL+"/hooks/prolific", testSecret, body,
		delivery.Headers{EventID: id, EventTime: time.Now(), SentAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-h.entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client error = %v, want context.Canceled", err)
	}
	select {
	case <-h.returned:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's Save did not end after the sender left")
	}
	waitFor(t, func() bool { return testutil.ToFloat64(tr.metrics.Cancelled.WithLabelValues("webhook")) == 1 })
	if got := testutil.ToFloat64(tr.metrics.StoreErrors); got != 0 {
		t.Errorf("receiver_store_errors_total = %v after a hang-up, want 0", got)
	}
	if got := testutil.ToFloat64(tr.metrics.Webhooks.WithLabelValues("submission.status.change", "cancelled")); got != 1 {
		t.Errorf(`receiver_webhooks_total{outcome="cancelled"} = %v, want 1`, got)
	}
	if got := testutil.ToFloat64(tr.metrics.Rejections.WithLabelValues("store_error")); got != 0 {
		t.Errorf(`receiver_rejections_total{reason="store_error"} = %v, want 0`, got)
	}
	logs := tr.logs.String()
	if strings.Contains(logs, `"level":"error"`) || !strings.Contains(logs, `"level":"info"`) || !strings.Contains(logs, id) {
		t.Errorf("logs = %s, want one info line naming the event and no error", logs)
	}
	// Prolific retries under the same ID: stored now, answered 200.
	if code, resp := tr.post(t, testSecret, id, time.Now(), body); code != http.StatusOK || !strings.Contains(resp, `"stored"`) {
		t.Errorf("retry = %d %s, want 200 stored", code, resp)
	}
}

// hangingReader holds Events until the request's context ends.
type hangingReader struct {
	Reader
	entered chan struct{}
}

func (h hangingReader) Events(ctx context.Context, _ store.EventFilter) ([]store.Event, error) {
	close(h.entered)
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestReadAPIClientGoneIsNotAStoreError: a reader that leaves while the
// store works is counted as cancelled and logs no store error.
func TestReadAPIClientGoneIsNotAStoreError(t *testing.T) {
	h := hangingReader{entered: make(chan struct{})}
	tr := newTestReceiver(t, func(d *Deps) { h.Reader = d.Reader; d.Reader = h })
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tr.admin.URL+"/api/v1/events", nil)
	go func() { <-h.entered; cancel() }()
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("GET answered %d, want the client to have gone", resp.StatusCode)
	}
	waitFor(t, func() bool { return testutil.ToFloat64(tr.metrics.Cancelled.WithLabelValues("api")) == 1 })
	if logs := tr.logs.String(); strings.Contains(logs, "store error") || strings.Contains(logs, `"level":"error"`) {
		t.Errorf("logs = %s, want no store error", logs)
	}
}

// waitFor polls cond for up to five seconds: the handler finishes after the
// client has already seen its connection close.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
