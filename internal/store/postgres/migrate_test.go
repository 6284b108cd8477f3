package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// TestMigrateConcurrentOpens starts five replicas at once on an empty
// schema: every Open succeeds and each migration is recorded exactly once.
func TestMigrateConcurrentOpens(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const replicas = 5
	dbs := make([]*postgres.DB, replicas)
	errs := make([]error, replicas)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			<-start
			dbs[i], errs[i] = postgres.Open(ctx, dsn, store.Options{})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
			continue
		}
		defer dbs[i].Close()
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var rows, distinct int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&rows, &distinct); err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	if rows == 0 || rows != distinct {
		t.Errorf("schema_migrations has %d rows for %d versions, want each version once", rows, distinct)
	}
	var first int
	if err := conn.QueryRow(ctx, `SELECT min(version) FROM schema_migrations`).Scan(&first); err != nil || first != 1 {
		t.Errorf("first migration = %d, %v; want 1", first, err)
	}

	// A store opened after the migrations ran works on the migrated schema.
	if _, err := dbs[0].Save(ctx, event(studyProgress, "study-m", "", t0)); err != nil {
		t.Errorf("Save after concurrent migrations: %v", err)
	}
}

// TestOpenBadDSN reports a parse error without echoing the DSN (it may hold
// a password).
func TestOpenBadDSN(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(context.Background(), "postgres://user:s3cret@127.0.0.1:5432/db?sslmode=bogus", store.Options{})
	if err == nil {
		t.Fatal("Open with an invalid sslmode succeeded, want an error")
	}
	if got := err.Error(); strings.Contains(got, "s3cret") {
		t.Errorf("Open error %q leaks the password", got)
	}
}
