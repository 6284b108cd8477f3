package postgres_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// TestReplicasAliasCapExact delivers distinct X-Event-IDs with one signed
// content to three replicas at once, repeatedly: one event is stored, and
// its aliases stop exactly at the cap (the per-event advisory lock makes
// the replicas count one at a time).
func TestReplicasAliasCapExact(t *testing.T) {
	t.Parallel()
	const maxAliases, perReplica = 4, 6
	dsn := pgtest.DSN(t)
	opts := store.Options{MaxAliases: maxAliases}
	replicas := make([]store.Store, 3)
	for i := range replicas {
		replicas[i] = open(t, dsn, opts)
	}
	ctx := ctxT(t)
	orig := event(studyProgress, "study-a", "", t0)

	var wg sync.WaitGroup
	var mu sync.Mutex
	stored, dups := 0, 0
	start := make(chan struct{})
	for r, db := range replicas {
		for i := range perReplica {
			e := *orig
			e.ID = fmt.Sprintf("%s-r%d-%d", orig.ID, r, i)
			wg.Go(func() {
				<-start
				o, err := db.Save(ctx, &e)
				if err != nil {
					t.Errorf("replica %d Save: %v", r, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				switch o {
				case store.Stored:
					stored++
				case store.Duplicate:
					dups++
				}
			})
		}
	}
	close(start)
	wg.Wait()
	if total := len(replicas) * perReplica; stored != 1 || dups != total-1 {
		t.Errorf("stored, duplicate = %d, %d; want 1, %d", stored, dups, total-1)
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var aliases, targets int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT event_id) FROM event_aliases`).Scan(&aliases, &targets); err != nil {
		t.Fatalf("count aliases: %v", err)
	}
	if aliases != maxAliases || targets != 1 {
		t.Errorf("event_aliases holds %d rows for %d events, want %d for 1", aliases, targets, maxAliases)
	}
}
