package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// TestWALRestartedUnderSustainedWrites: with writers that never pause, a
// checkpoint on another connection never finds the log fully copied, so
// only the writer's own checkpoint between transactions keeps the log from
// growing with every commit.
func TestWALRestartedUnderSustainedWrites(t *testing.T) {
	defer func(i time.Duration, f, l int64) {
		checkpointInterval, walRestartFrames, walSizeLimit = i, f, l
	}(checkpointInterval, walRestartFrames, walSizeLimit)
	checkpointInterval, walRestartFrames, walSizeLimit = 10*time.Millisecond, 64, 256<<10

	path := filepath.Join(t.TempDir(), "receiver.db")
	db, err := Open(path, store.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	ctx := context.Background()

	const writers, perWriter, bodySize = 8, 300, 4096 // ≥ 2,400 frames of bodies alone
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	ids := make(chan string, writers*perWriter)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				e := storetest.NewEvent("study.status.change", fmt.Sprintf("s-%d-%d", w, i), "ACTIVE", storetest.T0)
				e.Body = append(e.Body, make([]byte, bodySize)...)
				if _, err := db.Save(ctx, e); err != nil {
					errs <- err
					return
				}
				ids <- e.ID
			}
		})
	}
	wg.Wait()
	close(errs)
	close(ids)
	for err := range errs {
		t.Fatalf("Save: %v", err)
	}
	if db.ckpt.restarts.Load() == 0 {
		t.Fatal("the writer never restarted the log")
	}
	// The log restarted while the writers ran; on a starved host its
	// checkpoints may all have come late in the burst, leaving the file at
	// its high-water size until the next restart cuts it back to
	// walSizeLimit (set low here). A few more writes give it that
	// restart; a log that is never reused stays as large however long
	// they go on.
	written := int64(writers * perWriter * bodySize)
	var size int64
	for i := 0; ; i++ {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatalf("stat log: %v", err)
		}
		if size = fi.Size(); size < written/2 || i == 200 {
			break
		}
		e := storetest.NewEvent("study.status.change", fmt.Sprintf("after-%d", i), "ACTIVE", storetest.T0)
		if _, err := db.Save(ctx, e); err != nil {
			t.Fatalf("Save: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if size >= written/2 {
		t.Errorf("log is %d bytes after %d bytes of bodies: it is not being reused", size, written)
	}
	for id := range ids {
		if _, err := db.Event(ctx, id); err != nil {
			t.Fatalf("event %s after log restarts: %v", id, err)
		}
	}
}

// TestWALCutBackAfterGrowth: a log that grew while a reader's snapshot kept
// it from restarting is cut back to walSizeLimit once it restarts, rather
// than keeping its high-water size.
func TestWALCutBackAfterGrowth(t *testing.T) {
	defer func(i time.Duration, f, l int64) {
		checkpointInterval, walRestartFrames, walSizeLimit = i, f, l
	}(checkpointInterval, walRestartFrames, walSizeLimit)
	checkpointInterval, walRestartFrames, walSizeLimit = 10*time.Millisecond, 64, 256<<10

	path := filepath.Join(t.TempDir(), "receiver.db")
	db := openFile(t, path)
	ctx := context.Background()
	// save stores n events with 4 KiB bodies and returns their IDs.
	save := func(prefix string, n int) []string {
		t.Helper()
		var ids []string
		for i := range n {
			e := storetest.NewEvent("study.status.change", fmt.Sprintf("%s-%d", prefix, i), "ACTIVE", storetest.T0)
			e.Body = append(e.Body, make([]byte, 4096)...)
			if _, err := db.Save(ctx, e); err != nil {
				t.Fatalf("Save: %v", err)
			}
			ids = append(ids, e.ID)
		}
		return ids
	}
	walSize := func() int64 {
		t.Helper()
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatalf("stat log: %v", err)
		}
		return fi.Size()
	}

	save("warm", 1)
	reader, err := db.read.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback() // on an early failure; a no-op after the one below
	var n int
	if err := reader.QueryRow(`SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	held := save("held", 400) // ≥ 1.6 MiB of bodies while the snapshot pins the log
	grown := walSize()
	if grown < 4*walSizeLimit {
		t.Fatalf("log is %d bytes with a reader holding it, want it to have grown past %d", grown, 4*walSizeLimit)
	}
	if err := reader.Rollback(); err != nil {
		t.Fatal(err)
	}

	restarts := db.ckpt.restarts.Load()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; db.ckpt.restarts.Load() == restarts || walSize() > walSizeLimit; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("log still %d bytes (was %d; limit %d) after the reader left, restarts %d -> %d",
				walSize(), grown, walSizeLimit, restarts, db.ckpt.restarts.Load())
		}
		save(fmt.Sprint("after", i), 8)
		time.Sleep(5 * time.Millisecond)
	}
	checkIntegrity(t, db)
	for _, id := range held {
		if _, err := db.Event(ctx, id); err != nil {
			t.Fatalf("event %s after the log was cut back: %v", id, err)
		}
	}
	db = reopen(t, db, path)
	for _, id := range held {
		if _, err := db.Event(ctx, id); err != nil {
			t.Fatalf("event %s after reopening: %v", id, err)
		}
	}
}
