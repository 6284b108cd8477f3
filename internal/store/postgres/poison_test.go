package postgres_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// TestPoisonEventFailsAlone saves, concurrently through one store, many good
// events and one that PostgreSQL refuses (a NUL byte in a text column,
// SQLSTATE 22021; the HTTP handler rejects NUL before the store, so this
// calls Save directly). The batch holding the poison is retried one event
// per transaction: every good event is Stored and readable, the poison gets
// an error and is not stored.
//
// To make sure the poison shares a batch with good events, the store has one
// committer, and a first Save is held on a row lock taken by another
// connection while the others queue behind it.
func TestPoisonEventFailsAlone(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	dsn := pgtest.DSN(t)
	db := open(t, dsn+"&pool_max_conns=3", store.Options{Enrich: true, Debounce: time.Second}) // one committer

	// The first Save creates study "held"; the second blocks on its row.
	if _, err := db.Save(ctx, event(studyProgress, "held", "", t0)); err != nil {
		t.Fatalf("Save(held): %v", err)
	}
	tx := beginOther(t, ctx, dsn)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM studies WHERE id = 'held' FOR UPDATE`); err != nil {
		t.Fatalf("lock study: %v", err)
	}
	heldDone := make(chan error, 1)
	go func() { _, err := db.Save(ctx, event(studyProgress, "held", "", t0.Add(time.Second))); heldDone <- err }()
	time.Sleep(50 * time.Millisecond) // the committer is now waiting for the lock

	const good = 40
	type answer struct {
		e   *store.Event
		o   store.Outcome
		err error
	}
	answers := make(chan answer, good+1)
	poison := event(studyProgress, "study-\x00", "", t0)
	var wg sync.WaitGroup
	for i := range good + 1 {
		e := poison
		if i != good/2 {
			e = event(submissionStatus, fmt.Sprintf("sub-%d", i), "ACTIVE", t0.Add(time.Duration(i)*time.Second))
		}
		wg.Go(func() {
			o, err := db.Save(ctx, e)
			answers <- answer{e, o, err}
		})
	}
	time.Sleep(200 * time.Millisecond) // all queued behind the held batch
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("release lock: %v", err)
	}
	if err := <-heldDone; err != nil {
		t.Errorf("held Save: %v", err)
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		if a.e == poison {
			if a.err == nil {
				t.Errorf("Save(poison) = (%v, nil), want an error", a.o)
			}
			continue
		}
		if a.err != nil || a.o != store.Stored {
			t.Errorf("Save(%s) = (%v, %v), want (stored, nil)", a.e.ResourceID, a.o, a.err)
			continue
		}
		got, err := db.Event(ctx, a.e.ID)
		if err != nil {
			t.Errorf("Event(%s): %v", a.e.ID, err)
		} else if got.Seq != a.e.Seq {
			t.Errorf("Event(%s).Seq = %d, want %d", a.e.ID, got.Seq, a.e.Seq)
		}
	}
	if _, err := db.Event(ctx, poison.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Event(poison) error = %v, want %v", err, store.ErrNotFound)
	}
}
