package postgres_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// TestPruneReplicas prunes one database from three replicas at once: no
// call fails, no event is deleted twice, and every old event goes while
// the recent one stays.
func TestPruneReplicas(t *testing.T) {
	t.Parallel()
	dbs := replicas(t, 3, store.Options{})
	ctx := ctxT(t)
	const old = 40
	cutoff := time.Now().UTC()
	for i := range old {
		e := event(studyProgress, "study-1", "", t0.Add(time.Duration(i)*time.Second))
		e.ReceivedAt = cutoff.Add(-time.Duration(old-i) * time.Minute)
		if _, err := dbs[i%len(dbs)].Save(ctx, e); err != nil {
			t.Fatalf("Save: %v", err)
		}
	}
	recent := event(studyProgress, "study-1", "", t0)
	recent.ReceivedAt = cutoff.Add(time.Minute)
	if _, err := dbs[0].Save(ctx, recent); err != nil {
		t.Fatalf("Save: %v", err)
	}

	deleted := make([]int, len(dbs))
	errs := make([]error, len(dbs))
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() {
			for range old { // bounded: each round deletes at least one event or stops
				n, err := db.PruneEvents(ctx, cutoff, 3)
				deleted[i] += n
				if err != nil || n == 0 {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent PruneEvents: %v", err)
	}
	// A replica may stop early on rows another one had locked; one more
	// pass picks up anything left.
	rest, err := dbs[0].PruneEvents(ctx, cutoff, old)
	if err != nil {
		t.Fatalf("PruneEvents: %v", err)
	}
	total := rest
	for _, n := range deleted {
		total += n
	}
	if total != old {
		t.Errorf("replicas deleted %v (+%d) = %d events, want %d", deleted, rest, total, old)
	}
	evs, err := dbs[1].Events(ctx, store.EventFilter{})
	if err != nil || len(evs) != 1 || evs[0].ID != recent.ID {
		t.Errorf("Events after pruning = %d events, %v; want only %q", len(evs), err, recent.ID)
	}
}

// TestPruneIndex checks that migration 0003 created the index pruning
// searches by.
func TestPruneIndex(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	open(t, dsn, store.Options{})
	ctx := ctxT(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var def string
	err = conn.QueryRow(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'events_received_at'`,
		pgtest.Schema(dsn)).Scan(&def)
	if err != nil {
		t.Fatalf("index events_received_at: %v", err)
	}
	if want := "(received_at, seq)"; !strings.Contains(def, want) {
		t.Errorf("index definition %q, want it on %s", def, want)
	}
}
