package outputs

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// exclusive is a Destination that fails the test's check when two
// deliveries of one event overlap, and counts deliveries per event.
type exclusive struct {
	mu       sync.Mutex
	inFlight map[string]bool
	overlaps int
	count    map[string]int
	by       map[string]map[string]bool // event -> replicas that delivered it
}

type replicaDest struct {
	x    *exclusive
	name string
}

func (d replicaDest) Deliver(ctx context.Context, m Message, _ []byte) error {
	x := d.x
	x.mu.Lock()
	if x.inFlight[m.EventID] {
		x.overlaps++
	}
	x.inFlight[m.EventID] = true
	x.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // long enough for a second claim to overlap
	x.mu.Lock()
	delete(x.inFlight, m.EventID)
	x.count[m.EventID]++
	if x.by[m.EventID] == nil {
		x.by[m.EventID] = map[string]bool{}
	}
	x.by[m.EventID][d.name] = true
	x.mu.Unlock()
	return nil
}

func (replicaDest) Close() error { return nil }

// TestReplicasDeliverEachRowOnce: three replicas on one PostgreSQL
// database work one output; every row is delivered, by one replica at a
// time (here: exactly once, as no lease runs out), and the replicas share
// the work.
func TestReplicasDeliverEachRowOnce(t *testing.T) {
	dsn := pgtest.DSN(t)
	out := Output{Name: "lab", Type: "http", Ordered: true, MaxAge: DefaultMaxAge}
	opts := store.Options{Outputs: StoreOutputs([]Output{out})}
	x := &exclusive{inFlight: map[string]bool{}, count: map[string]int{}, by: map[string]map[string]bool{}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var replicas []*postgres.DB
	for range 3 {
		db, err := postgres.Open(ctx, dsn, opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		replicas = append(replicas, db)
	}
	const n = 300
	var ids []string
	var saveWG sync.WaitGroup
	var mu sync.Mutex
	for _, db := range replicas { // each replica stores a third of the events
		saveWG.Go(func() {
			got := saveEvents(t, db, n/3, 20)
			mu.Lock()
			ids = append(ids, got...)
			mu.Unlock()
		})
	}
	wctx, stop := context.WithCancel(ctx)
	var runWG sync.WaitGroup
	for i, db := range replicas {
		name := fmt.Sprintf("replica-%d", i)
		w := NewWorker(db, out, replicaDest{x: x, name: name}, Options{Owner: name, PollInterval: 5 * time.Millisecond, Batch: 8})
		runWG.Go(func() { _ = w.Run(wctx) })
	}
	saveWG.Wait()
	deadline := time.Now().Add(45 * time.Second)
	for pending(t, replicas[0], "lab") > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	runWG.Wait()

	x.mu.Lock()
	defer x.mu.Unlock()
	if x.overlaps != 0 {
		t.Errorf("%d deliveries overlapped another of the same row", x.overlaps)
	}
	workers := map[string]bool{}
	for _, id := range ids {
		if x.count[id] != 1 {
			t.Errorf("event %s delivered %d times, want 1", id, x.count[id])
		}
		for r := range x.by[id] {
			workers[r] = true
		}
	}
	if len(workers) < 2 {
		t.Errorf("replicas that delivered = %v, want the work shared", workers)
	}
}
