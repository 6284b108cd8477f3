package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// TestSlowMigrationIsNotCutShort: a migration that takes longer than
// Open's bound on its waits (openWait) still completes, and is announced
// through OnWait while it runs. With that bound on the migrations, a file
// large enough (0008 keys every stored event) would roll its upgrade back
// at every start, for ever. The migration is made slow here by another
// connection holding the write lock for longer than the bound.
func TestSlowMigrationIsNotCutShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receiver.db")
	db, err := Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", path+"?_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	before0008(t, raw)
	ctx := context.Background()
	lock, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	const held = 2500 * time.Millisecond
	release := time.AfterFunc(held, func() { _, _ = lock.ExecContext(ctx, `COMMIT`) })
	defer release.Stop()

	defer func(w, s time.Duration) { openWait, slowMigration = w, s }(openWait, slowMigration)
	openWait, slowMigration = time.Second, 50*time.Millisecond
	var mu sync.Mutex
	var told []string
	start := time.Now()
	db, err = Open(path, store.Options{OnWait: func(reason string) {
		mu.Lock()
		defer mu.Unlock()
		told = append(told, reason)
	}})
	if err != nil {
		t.Fatalf("Open with a migration longer than its %v bound: %v", openWait, err)
	}
	defer db.Close()
	if took := time.Since(start); took < held {
		t.Fatalf("Open took %v, less than the %v the write lock was held: the migration did not wait", took, held)
	}
	var applied int
	if err := db.read.QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = 8`).Scan(&applied); err != nil || applied != 1 {
		t.Fatalf("migration 0008 recorded %d times (%v), want once", applied, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 1 || !strings.Contains(told[0], "0008_event_keys.sql") {
		t.Errorf("OnWait heard %q; want one announcement of migration 0008_event_keys.sql", told)
	}
}
