package outputs

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

// opener opens one database (the same one each call) with opts.
type opener func(t *testing.T, opts store.Options) store.Store

// forEachStore runs fn against a fresh SQLite file and a fresh PostgreSQL
// schema (skipped without RECEIVER_TEST_POSTGRES_DSN, see pgtest).
func forEachStore(t *testing.T, fn func(t *testing.T, open opener)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "receiver.db")
		fn(t, func(t *testing.T, opts store.Options) store.Store {
			db, err := sqlite.Open(path, opts)
			if err != nil {
				t.Fatalf("sqlite.Open: %v", err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dsn := pgtest.DSN(t)
		fn(t, func(t *testing.T, opts store.Options) store.Store {
			db, err := postgres.Open(context.Background(), dsn, opts)
			if err != nil {
				t.Fatalf("postgres.Open: %v", err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// consumer is the lab's endpoint the tests deliver to.
type consumer = testkit.Consumer

func newConsumer(t *testing.T) *consumer { return testkit.NewConsumer(t, testSecret) }

// httpOutput is an output to c for every event type.
func httpOutput(name string, c *consumer) Output {
	key, _ := DecodeSecret(testSecret)
	return Output{Name: name, Type: "http", Ordered: true, MaxAge: DefaultMaxAge,
		HTTP: HTTPSettings{URL: c.URL + "/hooks", Key: key, Timeout: 500 * time.Millisecond}}
}

// saveEvents stores n status changes spread over studies studies and
// returns their IDs.
func saveEvents(t *testing.T, s store.Store, n, studies int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		e := storetest.NewEvent("study.status.change", "study-"+string(rune('a'+i%studies)), "ACTIVE", storetest.T0.Add(time.Duration(i)*time.Second))
		if _, err := s.Save(context.Background(), e); err != nil {
			t.Fatalf("Save: %v", err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// drain polls w, moving clock by step before each poll, until the output
// has nothing pending or rounds run out.
func drain(t *testing.T, w *Worker, s store.Store, output string, clock *storetest.Clock, step time.Duration, rounds int) {
	t.Helper()
	for range rounds {
		if _, err := w.Poll(testCtx(t)); err != nil {
			t.Fatalf("Poll: %v", err)
		}
		if pending(t, s, output) == 0 {
			return
		}
		clock.Advance(step)
	}
}

func pending(t *testing.T, s store.Store, output string) int {
	t.Helper()
	return state(t, s, output).Pending
}

func state(t *testing.T, s store.Store, output string) store.OutputState {
	t.Helper()
	return storetest.OutputState(t, s, output)
}
