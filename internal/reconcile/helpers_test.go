package reconcile_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/reconcile"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

const (
	apiToken  = "test-api-token-recon-5e1d"
	workspace = "ws-recon"
	deadURL   = "http://127.0.0.1:9/hooks/prolific" // nothing listens: deliveries fail
)

// rig is a fake Prolific with one subscription per default event type, all
// pointing at a receiver that is down, and a SQLite store.
type rig struct {
	fake *prolifictest.Fake
	api  *prolific.Client
	db   *sqlite.DB
	subs []reconcile.Subscription
	reg  *prometheus.Registry
	m    *reconcile.Metrics
}

func newRig(t *testing.T, mod func(*prolifictest.Options)) *rig {
	t.Helper()
	opts := prolifictest.Options{Tokens: []string{apiToken}, Workspaces: []string{workspace}, AllowHTTPTargets: true,
		TimeScale: 600000, MaxRetries: 2, DeliveryTimeout: time.Second}
	if mod != nil {
		mod(&opts)
	}
	f := prolifictest.New(opts)
	f.Start()
	t.Cleanup(f.Close)
	c := prolific.New(f.URL(), apiToken, prolific.WithRetry(0, 0, 0), prolific.WithTimeout(5*time.Second))
	ctx := context.Background()
	if _, err := c.CreateSecret(ctx, workspace); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	r := &rig{fake: f, api: c, reg: prometheus.NewPedanticRegistry()}
	for _, et := range prolific.DefaultEventTypes {
		sub, hs, err := c.CreateSubscription(ctx, workspace, et, deadURL)
		if err != nil {
			t.Fatalf("CreateSubscription: %v", err)
		}
		if _, err := c.ConfirmSubscription(ctx, sub.ID, hs); err != nil {
			t.Fatalf("ConfirmSubscription: %v", err)
		}
		r.subs = append(r.subs, reconcile.Subscription{ID: sub.ID, EventType: et})
	}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "receiver.db"), store.Options{})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	r.db = db
	r.m = reconcile.NewMetrics(r.reg)
	return r
}

// reconciler returns a reconciler over the rig with test-sized options.
func (r *rig) reconciler(mod func(*reconcile.Options)) *reconcile.Reconciler {
	opts := reconcile.Options{
		Subscriptions: func(context.Context) ([]reconcile.Subscription, error) { return r.subs, nil },
		Settle:        10 * time.Millisecond,
		LogPageSize:   50,
		Metrics:       r.m,
		Log:           zerolog.Nop(),
	}
	if mod != nil {
		mod(&opts)
	}
	return reconcile.New(r.db, r.api, opts)
}

// simulate runs a study to completion while the receiver is down and waits
// until the fake gave up on every delivery.
func (r *rig) simulate(t *testing.T, places int, seed int64) prolifictest.SimResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := r.fake.SimulateStudy(ctx, prolifictest.SimConfig{WorkspaceID: workspace, Places: places,
		ReturnRate: 0.15, TimeoutRate: 0.1, RejectRate: 0.2, Seed: seed})
	if err != nil {
		t.Fatalf("SimulateStudy: %v", err)
	}
	if err := r.fake.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
	return res
}

// logEntries counts the entries of every subscription's delivery log.
func (r *rig) logEntries(t *testing.T) int {
	t.Helper()
	n := 0
	for _, s := range r.subs {
		for off := 0; ; off += 1000 {
			page, err := r.api.SubscriptionEvents(context.Background(), s.ID, prolific.EventsQuery{Offset: off, Limit: 1000})
			if err != nil {
				t.Fatalf("SubscriptionEvents: %v", err)
			}
			n += len(page)
			if len(page) < 1000 {
				break
			}
		}
	}
	return n
}

// allEvents returns every stored event, oldest first.
func (r *rig) allEvents(t *testing.T) []store.Event {
	t.Helper()
	var out []store.Event
	after := int64(0)
	for {
		page, err := r.db.Events(context.Background(), store.EventFilter{Forward: true, AfterSeq: after, Limit: store.MaxLimit})
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		out = append(out, page...)
		if len(page) < store.MaxLimit {
			return out
		}
		after = page[len(page)-1].Seq
	}
}

// assertMatchesFake checks the store's study and submissions against the fake's.
func (r *rig) assertMatchesFake(t *testing.T, studyID string) {
	t.Helper()
	want, ok := r.fake.StudyState(studyID)
	if !ok {
		t.Fatalf("fake has no study %s", studyID)
	}
	got, err := r.db.Study(context.Background(), studyID)
	if err != nil {
		t.Fatalf("Study(%s): %v", studyID, err)
	}
	if got.Status != want.Status || got.PlacesTaken != want.PlacesTaken || got.PlacesTotal != want.TotalAvailablePlaces {
		t.Errorf("study = %s %d/%d, want %s %d/%d", got.Status, got.PlacesTaken, got.PlacesTotal,
			want.Status, want.PlacesTaken, want.TotalAvailablePlaces)
	}
	for k, v := range want.Counts {
		if k != "TOTAL" && got.SubmissionCounts[k] != v {
			t.Errorf("study counts[%s] = %d, want %d", k, got.SubmissionCounts[k], v)
		}
	}
	wrong := 0
	for id, status := range want.Submissions {
		s, err := r.db.Submission(context.Background(), id)
		if err != nil || s.Status != status || s.StudyID != studyID {
			wrong++
			if wrong <= 5 {
				t.Errorf("submission %s = %+v, %v; want %s in study %s", id, s, err, status, studyID)
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d submissions differ from the fake", wrong, len(want.Submissions))
	}
}

// metric returns the value of the counter or gauge name with labels (0
// when absent).
func metric(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	v, _ := testkit.Metric(t, reg, name, labels)
	return v
}
