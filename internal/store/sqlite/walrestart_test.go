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
	defer func(i time.Duration, f int64) { checkpointInterval, walRestartFrames = i, f }(checkpointInterval, walRestartFrames)
	checkpointInterval, walRestartFrames = 10*time.Millisecond, 64

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
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatalf("stat log: %v", err)
	}
	if written := int64(writers * perWriter * bodySize); fi.Size() >= written/2 {
		t.Errorf("log is %d bytes after %d bytes of bodies: it is not being reused", fi.Size(), written)
	}
	for id := range ids {
		if _, err := db.Event(ctx, id); err != nil {
			t.Fatalf("event %s after log restarts: %v", id, err)
		}
	}
}
