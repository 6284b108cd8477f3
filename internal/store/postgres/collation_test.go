package postgres_test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// keyColumns are the columns migration 0008 collates "C".
var keyColumns = [][2]string{
	{"events", "id"}, {"events", "content_hash"}, {"events", "type"}, {"events", "resource_id"}, {"events", "study_id"},
	{"event_aliases", "id"}, {"event_aliases", "event_id"}, {"submissions", "id"}, {"submissions", "study_id"},
	{"studies", "id"}, {"jobs", "kind"}, {"jobs", "key"},
}

// TestKeyColumnsCollateC upgrades a schema holding events, an alias and
// projections from migration 0007 and checks that the key columns compare
// as bytes afterwards, and that the stored rows are still found by their
// keys (the indexes were rebuilt, not left stale).
func TestKeyColumnsCollateC(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := ctxT(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) < 8 {
		t.Fatalf("migrations: %v, %v", files, err)
	}
	sort.Strings(files)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		t.Fatalf("create schema_migrations: %v", err)
	}
	for i, f := range files[:7] {
		sql, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(sql)); err != nil {
			t.Fatalf("apply %s: %v", f, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, i+1, filepath.Base(f)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `
		INSERT INTO events (id, content_hash, type, resource_id, study_id, event_time, received_at, body)
			VALUES ('evt-Old', 'hash-old', 'study.status.change', 'study-Z', 'study-Z', now(), now(), '\x7b7d');
		INSERT INTO event_aliases (id, event_id, received_at) VALUES ('evt-alias', 'evt-Old', now());
		INSERT INTO studies (id, updated_at) VALUES ('study-Z', now());
		INSERT INTO submissions (id, study_id, updated_at) VALUES ('sub-Z', 'study-Z', now())`); err != nil {
		t.Fatalf("populate: %v", err)
	}

	db := open(t, dsn, store.Options{})
	for _, c := range keyColumns {
		var coll string
		err := conn.QueryRow(ctx, `SELECT COALESCE(collation_name, '') FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`, c[0], c[1]).Scan(&coll)
		if err != nil || coll != "C" {
			t.Errorf("%s.%s collation = %q, %v; want \"C\"", c[0], c[1], coll, err)
		}
	}
	if got, err := db.Event(ctx, "evt-alias"); err != nil || got.ID != "evt-Old" {
		t.Errorf("Event(alias) after the upgrade = %v, %v; want evt-Old", got, err)
	}
	replay := event(studyStatus, "study-Z", "ACTIVE", t0)
	replay.ContentHash = "hash-old"
	if out, err := db.Save(ctx, replay); err != nil || out != store.Duplicate {
		t.Errorf("Save of a stored content after the upgrade = %v, %v; want duplicate", out, err)
	}
	if sub, err := db.Submission(ctx, "sub-Z"); err != nil || sub.StudyID != "study-Z" {
		t.Errorf("Submission after the upgrade = %+v, %v; want study-Z", sub, err)
	}
}
