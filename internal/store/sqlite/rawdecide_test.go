package sqlite

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// TestRawDecideMatchesDriver: the rules engine's decisions recorded through
// rawWriter read back exactly as through database/sql (the fallback when the
// driver's connection has another shape): every column, a key decided twice
// kept once, a dry-run settled, a leased one with its lease, a digest merged.
// It also proves the raw path ran: its statement was prepared.
func TestRawDecideMatchesDriver(t *testing.T) {
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	decisions := []store.Decision{
		{Key: "follow-up/group_add/p1", Rule: "follow-up", Action: "group_add", StudyID: "s1", Target: "p1", Batch: "g1",
			EventIDs: []string{"e1"}, Count: 1, Detail: `{"trigger":"event"}`, Lease: true},
		{Key: "follow-up/group_add/p1", Rule: "follow-up", Action: "group_add", StudyID: "s1", Target: "p1", Batch: "g1",
			EventIDs: []string{"e2"}, Count: 1, Lease: true},
		{Key: "pause/pause/s2", Rule: "pause", Action: "pause", StudyID: "s2", Target: "s2", DryRun: true,
			EventIDs: []string{"e3"}, Settled: &store.ActionResult{Outcome: store.ActionDryRun, Reason: "dry-run", Request: `POST /x {"a": "é"}`}},
		{Rule: "digest", Action: "notify", StudyID: "s1", Target: "s1", EventIDs: []string{"e4"}, Count: 2,
			Digest: 10 * time.Minute, DigestGroup: "digest/s1", DueAt: at.Add(time.Minute), Detail: `{"n":1}`},
		{Rule: "digest", Action: "notify", StudyID: "s1", Target: "s1", EventIDs: []string{"e5"}, Count: 1,
			Digest: 10 * time.Minute, DigestGroup: "digest/s1", DueAt: at.Add(time.Minute), Detail: `{"n":2}`},
	}
	record := func(raw bool) ([]store.Action, []store.Action) {
		db, err := Open(filepath.Join(t.TempDir(), "r.db"), store.Options{Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if !raw {
			db.ins.close()
			db.ins = nil // what begin sees when the driver's connection is not as expected
		}
		ctx := context.Background()
		leased, err := db.DecideClaim(ctx, nil, decisions, "owner-1", time.Minute)
		if err != nil {
			t.Fatalf("DecideClaim (raw %t): %v", raw, err)
		}
		if raw && (db.ins.db == 0 || db.ins.stmts[rawInsertAction] == 0) {
			t.Error("the decisions did not go through rawWriter: its INSERT was never prepared")
		}
		all, err := db.Actions(ctx, store.ActionFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return leased, all
	}
	rawLeased, rawAll := record(true)
	sqlLeased, sqlAll := record(false)
	if len(rawAll) != 3 {
		t.Errorf("raw path recorded %d actions, want 3 (a key twice kept once, two digest decisions merged): %+v", len(rawAll), rawAll)
	}
	if !reflect.DeepEqual(rawAll, sqlAll) {
		t.Errorf("actions recorded through rawWriter differ from database/sql's:\nraw %+v\nsql %+v", rawAll, sqlAll)
	}
	if !reflect.DeepEqual(rawLeased, sqlLeased) || len(rawLeased) != 2 {
		t.Errorf("leased/settled actions: raw %+v, sql %+v; want the same two", rawLeased, sqlLeased)
	}
}
