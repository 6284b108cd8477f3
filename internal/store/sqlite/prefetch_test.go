package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// TestAliasLookupAfterFirstAlias: batches skip the alias look-up while the
// database has never held an alias; once one is recorded (a replay under a
// new ID), and after reopening the file, a redelivery of the alias ID with
// other content is still answered Duplicate and stores nothing.
func TestAliasLookupAfterFirstAlias(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "receiver.db")
	db := openFile(t, path)
	if db.mayHaveAliases.Load() {
		t.Fatal("a new database says it may hold aliases")
	}
	orig := storetest.NewEvent("submission.status.change", "sub-1", "ACTIVE", storetest.T0)
	if out, err := db.Save(ctx, orig); err != nil || out != store.Stored {
		t.Fatalf("Save = %v, %v", out, err)
	}
	replay := *orig
	replay.ID = orig.ID + "-replayed"
	if out, err := db.Save(ctx, &replay); err != nil || out != store.Duplicate {
		t.Fatalf("replay under a new ID = %v, %v; want Duplicate", out, err)
	}
	if !db.mayHaveAliases.Load() {
		t.Fatal("recording an alias left the look-up off")
	}

	redeliver := func(db *DB, at time.Time) {
		t.Helper()
		e := storetest.NewEvent("submission.status.change", "sub-1", "APPROVED", at) // new content
		e.ID = replay.ID
		if out, err := db.Save(ctx, e); err != nil || out != store.Duplicate {
			t.Fatalf("redelivery of the alias ID = %v, %v; want Duplicate", out, err)
		}
	}
	redeliver(db, storetest.T0.Add(time.Minute))
	db = reopen(t, db, path)
	if !db.mayHaveAliases.Load() {
		t.Fatal("reopened database with an alias says it holds none")
	}
	redeliver(db, storetest.T0.Add(2*time.Minute))
	if evs, err := db.Events(ctx, store.EventFilter{}); err != nil || len(evs) != 1 {
		t.Errorf("events stored = %d, %v; want only the original", len(evs), err)
	}
}
