package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// TestPrunePlanUsesIndex checks that every prune statement finds old
// events through events_received_at (migration 0003), and their keys and
// aliases by key, instead of scanning a table.
func TestPrunePlanUsesIndex(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "receiver.db"), store.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	for _, q := range []string{sqlPruneAliases, sqlPruneStudyKeys, sqlPruneResourceKeys, sqlPruneEvents} {
		got := explain(t, db, q, 0, 10)
		if !strings.Contains(got, "events_received_at") || strings.Contains(got, "SCAN ") {
			t.Errorf("plan of %q = %q, want a search of events through events_received_at, no scan", q, got)
		}
	}
}

// TestPruneWhileSaving prunes in small chunks while Saves run: the one
// writer connection serves both, and no call fails or waits for ever.
func TestPruneWhileSaving(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "receiver.db"), store.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const old, recent = 30, 30
	for i := range old {
		if _, err := db.Save(ctx, storetest.NewEvent("study.progress.change", "study-1", "", storetest.T0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatalf("Save: %v", err)
		}
	}
	cutoff := storetest.T0.Add(time.Hour)
	done := make(chan error, 1)
	go func() {
		for i := range recent {
			e := storetest.NewEvent("study.progress.change", "study-2", "", cutoff.Add(time.Duration(i)*time.Second))
			if _, err := db.Save(ctx, e); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	pruned := 0
	for range old { // bounded: each round deletes at least one event or stops
		n, err := db.PruneEvents(ctx, cutoff, 2)
		if err != nil {
			t.Fatalf("PruneEvents: %v", err)
		}
		if n == 0 {
			break
		}
		pruned += n
	}
	if err := <-done; err != nil {
		t.Fatalf("Save while pruning: %v", err)
	}
	if pruned != old {
		t.Errorf("pruned %d events, want %d", pruned, old)
	}
	evs, err := db.Events(ctx, store.EventFilter{})
	if err != nil || len(evs) != recent {
		t.Errorf("Events after pruning = %d, %v; want %d", len(evs), err, recent)
	}
}
