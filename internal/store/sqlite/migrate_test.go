package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// migrationFiles counts the SQL migrations shipped in migrations/.
func migrationFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatalf("read migrations: %v", err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			n++
		}
	}
	return n
}

// TestUpgradeAddsEventAliases opens a database written before migration 0002
// (simulated by undoing it): Open applies it, the stored event survives, and
// a same-content delivery is then kept as an alias.
func TestUpgradeAddsEventAliases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receiver.db")
	ctx := context.Background()
	db, err := sqlite.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	e := storetest.NewEvent("study.progress.change", "study-1", "", storetest.T0)
	if _, err := db.Save(ctx, e); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	raw := rawDB(t, path)
	for _, q := range []string{`DROP TABLE event_aliases`, `DELETE FROM schema_migrations WHERE version = 2`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db, err = sqlite.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("reopen at version 1: %v", err)
	}
	defer db.Close()
	alias := *e
	alias.ID, alias.Seq = e.ID+"-alias", 0
	if o, err := db.Save(ctx, &alias); err != nil || o != store.Duplicate {
		t.Fatalf("Save(same content, new ID) = %v, %v; want %v", o, err, store.Duplicate)
	}
	got, err := db.Event(ctx, alias.ID)
	if err != nil || got.ID != e.ID {
		t.Errorf("Event(alias) = %+v, %v; want event %q", got, err, e.ID)
	}
}
