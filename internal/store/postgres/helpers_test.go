package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres"
)

// open opens a store on dsn and closes it when t ends.
func open(t testing.TB, dsn string, opts store.Options) *postgres.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

var eventCounter atomic.Int64

// event returns a new event of type typ about resource with a unique ID and
// content hash.
func event(typ, resource, status string, at time.Time) *store.Event {
	n := eventCounter.Add(1)
	body := fmt.Appendf(nil, `{"event_type":%q,"resource_id":%q,"status":%q,"n":%d}`, typ, resource, status, n)
	return &store.Event{
		ID:            fmt.Sprintf("evt-%d-%d", time.Now().UnixNano(), n),
		Type:          typ,
		ResourceID:    resource,
		Status:        status,
		EventTime:     at,
		ReceivedAt:    time.Now().UTC(),
		SignatureForm: "raw",
		ContentHash:   store.ContentHash(fmt.Sprint(at.Unix()), body),
		Body:          body,
	}
}

const (
	studyStatus      = "study.status.change"
	submissionStatus = "submission.status.change"
	studyProgress    = "study.progress.change"
)

// t0 is a fixed X-Timestamp base.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// beginOther begins a transaction on a connection of its own to dsn, as
// another client would; it is rolled back (if still open) and the
// connection closed when t ends.
func beginOther(t testing.TB, ctx context.Context, dsn string) pgx.Tx {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}
