package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// TestUnreachableDatabase: a store whose server does not answer errors on
// Save and Ping; it never reports success. Open itself fails, because it
// must migrate, so the store is built while the proxy is up.
func TestUnreachableDatabase(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	_, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", store.Options{})
	if err == nil {
		t.Fatal("Open on 127.0.0.1:1 succeeded, want an error")
	}

	dsn := pgtest.DSN(t)
	px := newProxy(t, hostOf(t, dsn))
	db := open(t, pgtest.WithHost(t, dsn, px.Addr()), store.Options{})
	px.cut()
	if out, err := db.Save(ctx, event(studyProgress, "study-x", "", t0)); err == nil {
		t.Errorf("Save while unreachable = %v, nil; want an error", out)
	}
	if err := db.Ping(ctx); err == nil {
		t.Error("Ping while unreachable = nil, want an error")
	}
	if _, err := db.Study(ctx, "study-x"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Study while unreachable = %v, want a connection error", err)
	}
}

// TestRecoversAfterOutage saves continuously while the connection to
// PostgreSQL is cut and restored: during the cut Save and Ping fail, after
// it Save succeeds again on the same store, and every event reported Stored
// is in the database.
func TestRecoversAfterOutage(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	dsn := pgtest.DSN(t)
	px := newProxy(t, hostOf(t, dsn))
	db := open(t, pgtest.WithHost(t, dsn, px.Addr()), store.Options{Enrich: true})

	var mu sync.Mutex
	var acked []string
	failures := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e := event(studyStatus, fmt.Sprintf("study-%d", w), "ACTIVE", t0.Add(time.Duration(i)*time.Second))
				sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				out, err := db.Save(sctx, e)
				cancel()
				mu.Lock()
				if err == nil && out == store.Stored {
					acked = append(acked, e.ID)
				} else if err != nil {
					failures++
				}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}

	time.Sleep(200 * time.Millisecond)
	px.cut()
	time.Sleep(100 * time.Millisecond) // let in-flight batches fail
	if _, err := db.Save(ctx, event(studyProgress, "study-cut", "", t0)); err == nil {
		t.Error("Save during outage succeeded, want an error")
	}
	if err := db.Ping(ctx); err == nil {
		t.Error("Ping during outage = nil, want an error")
	}
	time.Sleep(200 * time.Millisecond)
	px.restore()

	// The pool reconnects by itself: no reopen.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := db.Save(ctx, event(studyProgress, "study-back", "", t0))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Save still failing 10s after the database returned: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping after recovery: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()

	if failures == 0 {
		t.Error("no Save failed while the database was cut; the outage was not exercised")
	}
	direct := open(t, dsn, store.Options{})
	for _, id := range acked {
		if _, err := direct.Event(ctx, id); err != nil {
			t.Errorf("event %s was reported Stored but Event = %v", id, err)
		}
	}
	t.Logf("%d events acknowledged, %d saves failed during the outage", len(acked), failures)
}

// hostOf returns the host:port of dsn.
func hostOf(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse dsn: %v", err)
	}
	if u.Port() == "" {
		return u.Hostname() + ":5432"
	}
	return u.Host
}
