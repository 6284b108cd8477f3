package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/reconcile"
	"github.com/prolific-receiver/receiver/internal/store"
)

// rewriting serves the fake's API through rewrite, which may change the
// delivery log's pages (body in, body out).
func rewriting(t *testing.T, f *prolifictest.Fake, rewrite func(body []byte) []byte) *prolific.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/events/") {
			f.Handler().ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		f.Handler().ServeHTTP(rec, r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rewrite(rec.Body.Bytes()))
	}))
	t.Cleanup(srv.Close)
	return prolific.New(srv.URL, apiToken, prolific.WithRetry(0, 0, 0))
}

// Each fault of Prolific's side fails the pass with a clear error and a
// metric, writes nothing half-done and leaves the cursor where it was.
func TestFaultsKeepCursor(t *testing.T) {
	tests := []struct {
		name   string
		inject func(r *rig) *prolific.Client
		reason string
	}{
		{"forbidden", func(r *rig) *prolific.Client {
			r.fake.FailNext(prolifictest.RouteGetEvents, http.StatusForbidden, 100)
			return r.api
		}, "unauthorized"},
		{"rate limited", func(r *rig) *prolific.Client {
			r.fake.FailNext(prolifictest.RouteGetEvents, http.StatusTooManyRequests, 100)
			return r.api
		}, "rate_limited"},
		{"server error", func(r *rig) *prolific.Client {
			r.fake.FailNext(prolifictest.RouteGetEvents, http.StatusBadGateway, 100)
			return r.api
		}, "server_error"},
		{"malformed page", func(r *rig) *prolific.Client {
			return rewriting(t, r.fake, func(b []byte) []byte { return b[:len(b)/2] })
		}, "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.simulate(t, 5, 5)
			cursor := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
			for _, s := range r.subs {
				if err := r.db.SetReconcileMark(context.Background(), store.MarkSubscription, s.ID, cursor); err != nil {
					t.Fatal(err)
				}
			}
			api := tc.inject(r)
			rec := reconcile.New(r.db, api, reconcile.Options{
				Subscriptions: func(context.Context) ([]reconcile.Subscription, error) { return r.subs, nil },
				Metrics:       r.m, Lookback: 24 * time.Hour,
			})
			_, err := rec.Run(context.Background(), reconcile.Request{SubscriptionID: r.subs[0].ID})
			if err == nil {
				t.Fatal("Run succeeded, want an error")
			}
			if strings.Contains(err.Error(), apiToken) {
				t.Errorf("error %q carries the API token", err)
			}
			if got := metric(t, r.reg, "receiver_reconcile_failures_total", map[string]string{"reason": tc.reason}); got < 1 {
				t.Errorf("failures_total{reason=%s} = %v, want >= 1 (error: %v)", tc.reason, got, err)
			}
			marks, _ := r.db.ReconcileMarks(context.Background(), store.MarkSubscription)
			if !marks[r.subs[0].ID].Equal(cursor) {
				t.Errorf("cursor = %v, want it left at %v", marks[r.subs[0].ID], cursor)
			}
			if got := metric(t, r.reg, "receiver_reconcile_last_success_timestamp_seconds", nil); got != 0 {
				t.Errorf("last_success = %v after a failed pass, want 0", got)
			}
		})
	}
}

// An entry whose payload is not a Prolific event is skipped with a metric,
// every other entry is stored, and the cursor stays before the bad one.
func TestInvalidEntryHoldsCursor(t *testing.T) {
	r := newRig(t, nil)
	r.simulate(t, 5, 6)
	api := rewriting(t, r.fake, func(b []byte) []byte {
		var page struct {
			Results []map[string]any `json:"results"`
		}
		if json.Unmarshal(b, &page) != nil || len(page.Results) == 0 {
			return b
		}
		page.Results[0]["payload"] = map[string]any{"hello": "not a webhook"}
		out, _ := json.Marshal(page)
		return out
	})
	rec := reconcile.New(r.db, api, reconcile.Options{
		Subscriptions: func(context.Context) ([]reconcile.Subscription, error) { return r.subs, nil },
		Metrics:       r.m,
	})
	start := time.Now()
	sum, err := rec.Run(context.Background(), reconcile.Request{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sum.Invalid != len(r.subs) || sum.Stored != sum.Found-sum.Invalid {
		t.Errorf("summary = %+v, want one invalid per subscription, the rest stored", sum)
	}
	if got := metric(t, r.reg, "receiver_reconcile_events_total", map[string]string{"source": "api", "outcome": "invalid"}); got != float64(len(r.subs)) {
		t.Errorf("events_total{api,invalid} = %v, want %d", got, len(r.subs))
	}
	marks, _ := r.db.ReconcileMarks(context.Background(), store.MarkSubscription)
	for _, s := range r.subs {
		if m := marks[s.ID]; !m.Before(start) {
			t.Errorf("cursor of %s = %v, want before the pass began (%v): held at the bad entry", s.EventType, m, start)
		}
	}
}

// A pass that cannot list the subscriptions fails without writing.
func TestSubscriptionsUnavailable(t *testing.T) {
	r := newRig(t, nil)
	rec := reconcile.New(r.db, r.api, reconcile.Options{
		Subscriptions: func(context.Context) ([]reconcile.Subscription, error) {
			return nil, errors.New("prolific hooks.subscriptions.list: 503")
		},
		Metrics: r.m,
	})
	if _, err := rec.Run(context.Background(), reconcile.Request{}); err == nil {
		t.Fatal("Run succeeded, want an error")
	}
	if n := len(r.allEvents(t)); n != 0 {
		t.Errorf("stored %d events, want 0", n)
	}
}
