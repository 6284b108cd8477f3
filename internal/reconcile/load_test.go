package reconcile_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/reconcile"
	"github.com/prolific-receiver/receiver/internal/store"
)

// saveLatencies saves webhook-like events at rate per second for d (open
// loop: each on its own goroutine at its scheduled time) and returns each
// Save's latency, sorted.
func saveLatencies(t *testing.T, db store.Store, rate int, d time.Duration, tag string) []time.Duration {
	t.Helper()
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	var (
		mu  sync.Mutex
		out []time.Duration
		wg  sync.WaitGroup
	)
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Go(func() {
			id := fmt.Sprintf("load-%s-%d", tag, i)
			e := &store.Event{ID: id, Type: "submission.status.change", ResourceID: "load-sub-" + id, Status: "ACTIVE",
				EventTime: time.Now().Truncate(time.Second), ReceivedAt: time.Now(), SignatureForm: "raw",
				ContentHash: store.ContentHash("load", []byte(id)), Body: []byte(`{"event_type": "submission.status.change"}`)}
			t0 := time.Now()
			if _, err := db.Save(context.Background(), e); err != nil {
				t.Errorf("Save: %v", err)
			}
			mu.Lock()
			out = append(out, time.Since(t0))
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(out)
	return out
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// A backfill of thousands of events shares the webhook path's group
// commits instead of holding it up: the p99 of concurrent webhook saves
// stays within a small multiple of the p99 without it.
func TestBackfillUnderLoad(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("load: latencies measured without -short and without the race detector (go test -run TestBackfillUnderLoad -v ./internal/reconcile/)")
	}
	r := newRig(t, nil)
	res := r.simulate(t, 400, 9)
	entries := r.logEntries(t)
	const rate, d = 300, 3 * time.Second
	base := saveLatencies(t, r.db, rate, d, "base")

	rec := r.reconciler(func(o *reconcile.Options) { o.LogPageSize = 500 })
	var sum reconcile.Summary
	var runErr error
	var took time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		t0 := time.Now()
		sum, runErr = rec.Run(context.Background(), reconcile.Request{})
		took = time.Since(t0)
	}()
	during := saveLatencies(t, r.db, rate, d, "during")
	<-done
	if runErr != nil {
		t.Fatalf("Run: %v", runErr)
	}
	if sum.Stored != entries {
		t.Errorf("backfill stored %d, want %d", sum.Stored, entries)
	}
	t.Logf("webhook saves at %d/s: p50 %s p99 %s alone; p50 %s p99 %s while %d events were backfilled in %s (study %s)",
		rate, pct(base, .5), pct(base, .99), pct(during, .5), pct(during, .99), sum.Stored, took.Round(time.Millisecond), res.StudyID)
	if limit := max(5*pct(base, .99), 100*time.Millisecond); pct(during, .99) > limit {
		t.Errorf("p99 of webhook saves during the backfill %s, want at most %s", pct(during, .99), limit)
	}
}
