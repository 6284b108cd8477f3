package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// TestLockIsExclusiveAcrossProcesses: two stores on one database stand for
// two replicas; the second waits for the first to unlock, a different name
// does not wait, and closing the holder's store releases the lock.
func TestLockIsExclusiveAcrossProcesses(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := open(t, dsn, store.Options{})
	b := open(t, dsn, store.Options{})
	ctx := ctxT(t)

	unlockA, err := a.Lock(ctx, "bootstrap")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = b.Lock(short, "bootstrap")
	cancel()
	if err == nil || !errors.Is(short.Err(), context.DeadlineExceeded) {
		t.Fatalf("second Lock while held = %v, want it to wait until its context ends", err)
	}
	unlockOther, err := b.Lock(ctx, "another name")
	if err != nil {
		t.Fatalf("Lock of another name: %v", err)
	}
	unlockOther()

	got := make(chan func(), 1)
	go func() {
		unlock, err := b.Lock(ctx, "bootstrap")
		if err != nil {
			t.Errorf("Lock after unlock: %v", err)
			unlock = func() {}
		}
		got <- unlock
	}()
	select {
	case <-got:
		t.Fatal("second Lock returned while the first still held it")
	case <-time.After(100 * time.Millisecond):
	}
	unlockA()
	select {
	case unlockB := <-got:
		unlockB()
	case <-time.After(10 * time.Second):
		t.Fatal("second Lock did not get the lock after unlock")
	}
}
