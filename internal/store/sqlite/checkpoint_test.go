package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// TestCheckpointerMovesWALIntoDatabase: the writer runs with automatic
// checkpoints off, so without the background checkpointer every event would
// stay in the -wal file and the database file would not grow.
func TestCheckpointerMovesWALIntoDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receiver.db")
	db, err := sqlite.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	before := fileSize(t, path)

	const events, bodySize = 400, 2048
	var wg sync.WaitGroup
	for i := range events {
		wg.Go(func() {
			e := storetest.NewEvent("study.progress.change", fmt.Sprint("study-", i%7), "", storetest.T0)
			e.Body = append(e.Body, make([]byte, bodySize)...)
			if _, err := db.Save(context.Background(), e); err != nil {
				t.Errorf("Save: %v", err)
			}
		})
	}
	wg.Wait()

	want := before + events*bodySize/2
	deadline := time.Now().Add(5 * time.Second)
	for fileSize(t, path) < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := fileSize(t, path); got < want {
		t.Errorf("database file is %d bytes after %d events of %d bytes; want at least %d (checkpointed)",
			got, events, bodySize, want)
	}
}

func fileSize(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	return int(fi.Size())
}
