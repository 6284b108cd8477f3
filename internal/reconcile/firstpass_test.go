package reconcile_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/reconcile"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
)

// firstPassStore is the store a first-pass test runs on.
type firstPassStore interface {
	reconcile.Store
	Close() error
}

// firstPassBackends opens a fresh, empty store of each backend.
var firstPassBackends = []struct {
	name string
	open func(t *testing.T) firstPassStore
}{
	{"sqlite", func(t *testing.T) firstPassStore {
		db, err := sqlite.Open(filepath.Join(t.TempDir(), "receiver.db"), store.Options{})
		if err != nil {
			t.Fatalf("sqlite.Open: %v", err)
		}
		return db
	}},
	{"postgres", func(t *testing.T) firstPassStore {
		db, err := postgres.Open(context.Background(), pgtest.DSN(t), store.Options{})
		if err != nil {
			t.Fatalf("postgres.Open: %v", err)
		}
		return db
	}},
}

// outageLog is a fake Prolific whose submission subscription's delivery
// log holds n FAILED deliveries made `ago` before now (the receiver was
// down), and the subscription.
func outageLog(t *testing.T, n int, ago time.Duration) (*prolific.Client, reconcile.Subscription) {
	t.Helper()
	var mu sync.Mutex
	clock := time.Now().Add(-ago)
	f := prolifictest.New(prolifictest.Options{Tokens: []string{apiToken}, Workspaces: []string{workspace},
		AllowHTTPTargets: true, MaxRetries: -1, DeliveryTimeout: time.Second,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	f.Start()
	t.Cleanup(f.Close)
	c := prolific.New(f.URL(), apiToken, prolific.WithRetry(0, 0, 0), prolific.WithTimeout(5*time.Second))
	ctx := context.Background()
	if _, err := c.CreateSecret(ctx, workspace); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	sub, hs, err := c.CreateSubscription(ctx, workspace, prolific.EventSubmissionStatusChange, deadURL)
	if err != nil {
		t.Fatalf("CreateSubscription: %v", err)
	}
	if _, err := c.ConfirmSubscription(ctx, sub.ID, hs); err != nil {
		t.Fatalf("ConfirmSubscription: %v", err)
	}
	for i := range n {
		if _, err := f.Emit(workspace, prolific.EventSubmissionStatusChange, fmt.Sprintf("sub%022d", i),
			prolifictest.F("participant_id", fmt.Sprintf("part%020d", i)), prolifictest.F("status", "APPROVED")); err != nil {
			t.Fatalf("Emit: %v", err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := f.WaitIdle(wctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
	mu.Lock()
	clock = time.Now() // the outage is over; Prolific's clock is ours again
	mu.Unlock()
	failed, err := c.SubscriptionEvents(ctx, sub.ID, prolific.EventsQuery{Limit: 1000, Status: []string{prolific.DeliveryFailed}})
	if err != nil {
		t.Fatalf("SubscriptionEvents: %v", err)
	}
	if len(failed) != n {
		t.Fatalf("delivery log holds %d FAILED entries, want %d", len(failed), n)
	}
	return c, reconcile.Subscription{ID: sub.ID, EventType: prolific.EventSubmissionStatusChange}
}

// saveWebhook stores a webhook received at `at`, as the webhook handler does.
func saveWebhook(t *testing.T, st reconcile.Store, id string, at time.Time) {
	t.Helper()
	body := fmt.Sprintf(`{"resource_id": "live-%s", "event_type": "submission.status.change", "participant_id": "p-%s", "status": "AWAITING REVIEW"}`, id, id)
	ev := &store.Event{ID: id, Type: prolific.EventSubmissionStatusChange, ResourceID: "live-" + id, Status: "AWAITING REVIEW",
		ParticipantID: "p-" + id, EventTime: at.Truncate(time.Second), ReceivedAt: at, Source: store.SourceWebhook,
		ContentHash: store.ContentHash(at.Format(time.RFC3339), []byte(body)), Body: []byte(body)}
	if out, err := st.Save(context.Background(), ev); err != nil || out != store.Stored {
		t.Fatalf("Save(webhook %s) = %v, %v; want stored", id, out, err)
	}
}

// countAPI counts the stored events backfilled from the delivery log.
func countAPI(t *testing.T, st reconcile.Store) int {
	t.Helper()
	n := 0
	page, err := st.Events(context.Background(), store.EventFilter{Forward: true, Limit: store.MaxLimit})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	for _, e := range page {
		if store.SourceOf(&e) == store.SourceAPI {
			n++
		}
	}
	return n
}

// A receiver comes back after an outage with a fresh store (no cursor),
// and a live webhook is stored right after the start: the first pass
// still reads the whole outage and recovers all 40 FAILED deliveries of
// three days ago, whether the webhook was stored before the pass read the
// log or after, on both backends. (Reading from "the newest stored event
// minus the margin" recovered none when the webhook came first.)
func TestFirstPassIgnoresWebhooksSinceStart(t *testing.T) {
	const lost = 40
	for _, b := range firstPassBackends {
		for _, order := range []string{"webhook first", "pass first"} {
			t.Run(b.name+"/"+order, func(t *testing.T) {
				t.Parallel()
				api, sub := outageLog(t, lost, 72*time.Hour)
				st := b.open(t)
				t.Cleanup(func() { _ = st.Close() })
				rec := reconcile.New(st, api, reconcile.Options{
					Subscriptions: func(context.Context) ([]reconcile.Subscription, error) {
						return []reconcile.Subscription{sub}, nil
					},
					Settle: 10 * time.Millisecond, LogPageSize: 50,
					Metrics: reconcile.NewMetrics(prometheus.NewPedanticRegistry()), Log: zerolog.Nop(),
				}) // started now
				ctx := context.Background()
				pass := func() {
					t.Helper()
					if _, err := rec.Run(ctx, reconcile.Request{}); err != nil {
						t.Fatalf("Run: %v", err)
					}
				}
				if order == "webhook first" {
					saveWebhook(t, st, "live-1", time.Now())
					pass()
				} else {
					pass()
					saveWebhook(t, st, "live-1", time.Now())
					pass() // from the cursor now: nothing lost, nothing twice
				}
				if got := countAPI(t, st); got != lost {
					t.Errorf("recovered %d of %d FAILED deliveries", got, lost)
				}
			})
		}
	}
}

// An outage longer than the look-back: the newest event stored before
// the start is four days old, the look-back two days, the deliveries that
// failed three days ago. The first pass reads from that event, not from
// the look-back, and recovers them all, although a webhook came first.
func TestFirstPassCoversOutageLongerThanLookback(t *testing.T) {
	outageLongerThanLookback(t, func() (started, live time.Time) {
		return time.Time{}, time.Time{} // the reconciler's making, then a webhook
	})
}

// TestFirstPassStartWithinStoredPrecision: the stores keep arrival times to
// the microsecond. A webhook that arrives after the process started, but
// in the same microsecond, is stored as arriving before the start; it must
// still not count as the newest event from before the start, or the first
// pass would begin at the look-back and miss an outage longer than it.
func TestFirstPassStartWithinStoredPrecision(t *testing.T) {
	outageLongerThanLookback(t, func() (started, live time.Time) {
		started = time.Now().Truncate(time.Microsecond).Add(300 * time.Nanosecond)
		return started, started.Add(400 * time.Nanosecond)
	})
}

// outageLongerThanLookback runs the outage of
// TestFirstPassCoversOutageLongerThanLookback on each backend: times gives
// the process's start (zero: when the reconciler is made) and the live
// webhook's arrival (zero: now, once the reconciler is made); the webhook is
// stored after the reconciler is made and before its pass.
func outageLongerThanLookback(t *testing.T, times func() (started, live time.Time)) {
	const lost = 40
	for _, b := range firstPassBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			api, sub := outageLog(t, lost, 72*time.Hour)
			st := b.open(t)
			t.Cleanup(func() { _ = st.Close() })
			saveWebhook(t, st, "before-outage", time.Now().Add(-96*time.Hour))
			started, live := times()
			rec := reconcile.New(st, api, reconcile.Options{
				Subscriptions: func(context.Context) ([]reconcile.Subscription, error) {
					return []reconcile.Subscription{sub}, nil
				},
				Started:  started,
				Lookback: 48 * time.Hour, Settle: 10 * time.Millisecond, LogPageSize: 50,
				Metrics: reconcile.NewMetrics(prometheus.NewPedanticRegistry()), Log: zerolog.Nop(),
			})
			if live.IsZero() {
				live = time.Now()
			}
			saveWebhook(t, st, "live-1", live)
			if _, err := rec.Run(context.Background(), reconcile.Request{}); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := countAPI(t, st); got != lost {
				t.Errorf("recovered %d of %d FAILED deliveries", got, lost)
			}
		})
	}
}
