package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// rawDB opens the file with a plain connection, for inspecting or sabotaging it.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatalf("open raw: %v", err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "receiver.db") // parent directories created
	ctx := context.Background()
	db, err := sqlite.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	e := storetest.NewEvent("study.status.change", "study-1", "ACTIVE", storetest.T0)
	if _, err := db.Save(ctx, e); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db, err = sqlite.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	got, err := db.Event(ctx, e.ID)
	if err != nil || got.Seq != e.Seq {
		t.Fatalf("Event after reopen = %+v, %v; want Seq %d", got, err, e.Seq)
	}
	if st, err := db.Study(ctx, "study-1"); err != nil || st.Status != "ACTIVE" {
		t.Errorf("Study after reopen = %+v, %v; want ACTIVE", st, err)
	}
	e2 := storetest.NewEvent("study.progress.change", "study-1", "", storetest.T0)
	if _, err := db.Save(ctx, e2); err != nil || e2.Seq <= e.Seq {
		t.Errorf("Save after reopen: Seq %d, %v; want > %d", e2.Seq, err, e.Seq)
	}

	raw := rawDB(t, path)
	var versions, micros int
	var kind string
	if err := raw.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatalf("count migrations: %v", err)
	}
	if want := migrationFiles(t); versions != want {
		t.Errorf("schema_migrations rows = %d, want %d (each migration applied once)", versions, want)
	}
	if err := raw.QueryRow(`SELECT typeof(event_time), event_time FROM events WHERE id = ?`, e.ID).Scan(&kind, &micros); err != nil {
		t.Fatalf("read event_time: %v", err)
	}
	if kind != "integer" || int64(micros) != storetest.T0.UnixMicro() {
		t.Errorf("event_time stored as %s %d, want integer %d (unix microseconds)", kind, micros, storetest.T0.UnixMicro())
	}
	var mode string
	if err := raw.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestOpenBadPath(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.db")
	if err := os.WriteFile(corrupt, []byte("this is not a database, just some text long enough to have a header......................................................."), 0o600); err != nil {
		t.Fatal(err)
	}
	fileAsDir := filepath.Join(dir, "file")
	if err := os.WriteFile(fileAsDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path string }{
		{"corrupt file", corrupt},
		{"directory", dir},
		{"parent is a file", filepath.Join(fileAsDir, "receiver.db")},
		{"empty", ""},
		{"query characters", filepath.Join(dir, "x.db?mode=ro")},
	}
	for _, tc := range tests {
		db, err := sqlite.Open(tc.path, store.Options{})
		if err == nil {
			db.Close()
			t.Errorf("Open(%s) succeeded, want an error", tc.name)
		}
	}
}

// TestSaveFailureReportsError makes every insert fail (a trigger) and checks
// that Save returns an error, nothing of the batch is stored, and the store
// recovers once the fault is gone.
func TestSaveFailureReportsError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receiver.db")
	ctx := context.Background()
	db, err := sqlite.Open(path, store.Options{Enrich: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	raw := rawDB(t, path)
	if _, err := raw.Exec(`CREATE TRIGGER sabotage BEFORE INSERT ON events
		WHEN NEW.resource_id = 'study-bad' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
		t.Fatalf("create trigger: %v", err)
	}

	good := storetest.NewEvent("study.status.change", "study-1", "ACTIVE", storetest.T0)
	bad := storetest.NewEvent("study.status.change", "study-bad", "ACTIVE", storetest.T0)
	if o, err := db.Save(ctx, bad); err == nil {
		t.Fatalf("Save with a failing insert = %v, nil; want an error", o)
	}
	if bad.Seq != 0 {
		t.Errorf("failed Save left Seq = %d, want 0", bad.Seq)
	}
	// Concurrent saves may share the failing batch; each either fails or is really stored.
	var wg sync.WaitGroup
	results := make([]error, 10)
	events := make([]*store.Event, 10)
	for i := range events {
		events[i] = storetest.NewEvent("study.progress.change", "study-1", "", storetest.T0)
		if i%2 == 0 {
			events[i] = storetest.NewEvent("study.progress.change", "study-bad", "", storetest.T0)
		}
		wg.Go(func() { _, results[i] = db.Save(ctx, events[i]) })
	}
	wg.Wait()
	for i, err := range results {
		_, readErr := db.Event(ctx, events[i].ID)
		if err != nil && !errors.Is(readErr, store.ErrNotFound) {
			t.Errorf("event %d: Save failed (%v) but it is stored", i, err)
		}
		if err == nil && readErr != nil {
			t.Errorf("event %d: Save succeeded but Event: %v", i, readErr)
		}
		if events[i].ResourceID == "study-bad" && err == nil {
			t.Errorf("event %d for study-bad: Save succeeded, want an error", i)
		}
	}
	if st, err := db.QueueStats(ctx); err != nil {
		t.Fatalf("QueueStats: %v", err)
	} else if _, serr := db.Study(ctx, "study-bad"); !errors.Is(serr, store.ErrNotFound) {
		t.Errorf("Study(study-bad) after failed saves: %v, want not found (rolled back); queue %+v", serr, st)
	}

	if _, err := raw.Exec(`DROP TRIGGER sabotage`); err != nil {
		t.Fatalf("drop trigger: %v", err)
	}
	if o, err := db.Save(ctx, good); err != nil || o != store.Stored {
		t.Errorf("Save after the fault cleared = %v, %v; want stored", o, err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
