package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// TestSaveWhenFull: when the database cannot grow (a full disk; here
// PRAGMA max_page_count on the writer, which fails the same way with
// SQLITE_FULL), Save returns an error for whatever it could not store
// (the handler's 503), never a false success; what was acknowledged stays
// readable, the failed batch is not retried event by event, and once there
// is room again the same events store without a restart.
func TestSaveWhenFull(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "receiver.db")
	db := openFile(t, path)
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var acked []string
	for i := range 20 {
		e := storetest.NewEvent("study.status.change", "study-full", "ACTIVE", at.Add(time.Duration(i)*time.Second))
		if _, err := db.Save(ctx, e); err != nil {
			t.Fatalf("Save before the limit: %v", err)
		}
		acked = append(acked, e.ID)
	}
	// Commit what is in the WAL into the file, then let it grow no further.
	if _, err := db.write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := db.write.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}

	var refused []*store.Event
	var fullErr error
	for i := 0; i < 2000 && len(refused) == 0; i++ {
		e := storetest.NewEvent("study.status.change", "study-full", "ACTIVE", at.Add(time.Hour+time.Duration(i)*time.Second))
		e.Body = []byte(`{"event_type":"study.status.change","padding":"` + strings.Repeat("x", 2000) + `"}`)
		if _, err := db.Save(ctx, e); err != nil {
			if !strings.Contains(err.Error(), "full") {
				t.Fatalf("Save at the limit = %v, want SQLite's database or disk is full", err)
			}
			if isolatable(err) {
				t.Errorf("a full database is isolatable: every event of a batch would be retried alone")
			}
			refused, fullErr = append(refused, e), err
			continue
		}
		acked = append(acked, e.ID)
	}
	if len(refused) == 0 {
		t.Fatal("the database never filled up")
	}
	t.Logf("%d events acknowledged, then refused: %v", len(acked), fullErr)
	if _, err := db.Event(ctx, refused[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused event %s: Event = %v, want ErrNotFound", refused[0].ID, err)
	}
	for _, id := range acked {
		if _, err := db.Event(ctx, id); err != nil {
			t.Fatalf("acknowledged event %s after the store filled: %v", id, err)
		}
	}

	// Room again: the refused event is stored on its retry, without a restart.
	if _, err := db.write.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	if out, err := db.Save(ctx, refused[0]); err != nil || out != store.Stored {
		t.Fatalf("retry with room = %v, %v; want Stored", out, err)
	}
	acked = append(acked, refused[0].ID)
	db = reopen(t, db, path)
	for _, id := range acked {
		if _, err := db.Event(ctx, id); err != nil {
			t.Fatalf("acknowledged event %s after reopening: %v", id, err)
		}
	}
}
