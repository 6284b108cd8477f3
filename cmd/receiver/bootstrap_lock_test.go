package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
	"github.com/prolific-receiver/receiver/internal/store/storeopen"
)

// bootstrapCommandEnv points `receiver bootstrap` at fake and at storeDSN.
func bootstrapCommandEnv(t *testing.T, fake *prolifictest.Fake, token, workspace, storeDSN string) {
	t.Setenv("PROLIFIC_API_TOKEN", token)
	t.Setenv("PROLIFIC_WORKSPACE_ID", workspace)
	t.Setenv("PROLIFIC_API_URL", fake.URL())
	t.Setenv("PROLIFIC_WEBHOOK_SECRET", "")
	t.Setenv("RECEIVER_PUBLIC_URL", "http://127.0.0.1:1/hooks/prolific")
	t.Setenv("RECEIVER_ALLOW_INSECURE_PUBLIC_URL", "true")
	t.Setenv("RECEIVER_STORE", storeDSN)
	t.Setenv("RECEIVER_LOG_LEVEL", "warn")
}

// TestBootstrapCommandTakesReplicasLock: the one-off `receiver bootstrap`
// on the replicas' PostgreSQL waits for the bootstrap lock a starting
// replica holds, and does its work once it is released. Without the lock
// it would call Prolific at once (and, on a workspace without a secret,
// create one beside the replica's).
func TestBootstrapCommandTakesReplicasLock(t *testing.T) {
	dsn := pgtest.DSN(t)
	const token, workspace = "lock-api-token-not-real", "00000000000000000000000c"
	var calls atomic.Int64
	fake := prolifictest.New(prolifictest.Options{
		Tokens: []string{token}, Workspaces: []string{workspace}, AllowHTTPTargets: true,
		Inject: func(*http.Request) (int, bool) { calls.Add(1); return 0, false },
	})
	fake.Start()
	defer fake.Close()
	bootstrapCommandEnv(t, fake, token, workspace, dsn)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := storeopen.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	unlock, err := st.(store.Locker).Lock(ctx, "bootstrap")
	if err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- runBootstrap(ctx, nil, &stdout, &stderr) }()
	select {
	case err := <-done:
		unlock()
		t.Fatalf("bootstrap finished while a replica held the lock: %v\n%s", err, stderr.String())
	case <-time.After(700 * time.Millisecond):
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("bootstrap made %d Prolific requests while a replica held the lock, want none", n)
	}
	unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("bootstrap: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("bootstrap did not finish after the lock was released")
	}
	if n := len(fake.Subscriptions()); n != len(prolific.DefaultEventTypes) {
		t.Errorf("%d subscriptions after bootstrap, want %d", n, len(prolific.DefaultEventTypes))
	}
	if n := fake.Requests(prolifictest.RouteCreateSecret); n != 1 {
		t.Errorf("created the workspace secret %d times, want once", n)
	}
}

// TestBootstrapCommandLeavesSQLiteAlone: with the embedded store there are
// no replicas to share a lock with, and the one-off command neither opens
// nor creates the database file.
func TestBootstrapCommandLeavesSQLiteAlone(t *testing.T) {
	const token, workspace = "lock-api-token-not-real", "00000000000000000000000d"
	fake := prolifictest.New(prolifictest.Options{Tokens: []string{token}, Workspaces: []string{workspace}, AllowHTTPTargets: true})
	fake.Start()
	defer fake.Close()
	path := filepath.Join(t.TempDir(), "receiver.db")
	bootstrapCommandEnv(t, fake, token, workspace, "sqlite:"+path)

	var stdout, stderr bytes.Buffer
	if err := runBootstrap(context.Background(), nil, &stdout, &stderr); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, stderr.String())
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("bootstrap touched the SQLite store %s (stat: %v)", path, err)
	}
	if n := len(fake.Subscriptions()); n != len(prolific.DefaultEventTypes) {
		t.Errorf("%d subscriptions after bootstrap, want %d", n, len(prolific.DefaultEventTypes))
	}
}
