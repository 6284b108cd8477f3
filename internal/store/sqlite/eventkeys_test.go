package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// explain returns the detail lines of q's query plan, joined by "; ".
func explain(t *testing.T, db *DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.read.Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatalf("scan plan: %v", err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}

// TestEventsByKeyPlans checks that a listing by study or resource walks
// that key's primary key in seq order, with the seq bounds on it, and
// merges the tail without sorting: a LIMIT then stops the walk early, as
// the indexes on events did before migration 0008.
func TestEventsByKeyPlans(t *testing.T) {
	db := openKeysTest(t)
	for _, tc := range []struct {
		f    store.EventFilter
		want string
	}{
		{store.EventFilter{StudyID: "s"}, "SEARCH k USING PRIMARY KEY (study_id=? AND seq<?)"},
		{store.EventFilter{StudyID: "s", Type: "t", BeforeSeq: 9}, "SEARCH k USING PRIMARY KEY (study_id=? AND seq<?)"},
		{store.EventFilter{ResourceID: "r"}, "SEARCH k USING PRIMARY KEY (resource_id=? AND seq<?)"},
		{store.EventFilter{ResourceID: "r", StudyID: "s", Forward: true, AfterSeq: 3}, "SEARCH k USING PRIMARY KEY (resource_id=? AND seq>? AND seq<?)"},
	} {
		q, args := eventsQuery(tc.f)
		plan := explain(t, db, q, args...)
		if !strings.Contains(plan, tc.want) || !strings.Contains(plan, "MERGE (UNION ALL)") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("plan for %+v = %q, want %q merged with the tail and no sort", tc.f, plan, tc.want)
		}
	}
	// SetSubmissionStudy finds the submission's events by their keys and
	// the tail too (event_keys_done is one row).
	for _, q := range []string{sqlKeySetStudy, sqlSetEventsStudy} {
		plan := explain(t, db, q, "s", "r")
		if strings.Contains(strings.ReplaceAll(plan, "SCAN event_keys_done", ""), "SCAN ") {
			t.Errorf("plan of %q = %q, want no scan", q, plan)
		}
	}
}

func openKeysTest(t *testing.T) *DB {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "receiver.db"))
}

// TestEventKeysMatchTheEvents stores events one batch at a time with a
// pass every 5 events, gives submissions their study both before and after
// their events were keyed, and prunes; at each step every listing by study
// and resource (with type, seq bounds, both directions and limits) must
// equal a filter of all events, and the key tables must hold exactly the
// keys of the events up to event_keys_done.
func TestEventKeysMatchTheEvents(t *testing.T) {
	t.Cleanup(SetKeysEvery(5))
	db := openKeysTest(t)
	ctx := context.Background()
	var tailSeen bool
	check := func(step string) {
		t.Helper()
		all := scanEvents(t, db)
		checkKeyTables(t, db, all, step)
		tailSeen = tailSeen || db.keysDone.Load() < all[len(all)-1].seq && db.keysDone.Load() > 0
		for _, f := range keyFilters(all) {
			got, err := db.Events(ctx, f)
			if err != nil {
				t.Fatalf("%s: Events(%+v): %v", step, f, err)
			}
			if want := filterEvents(all, f); !slices.Equal(want, seqs(got)) {
				t.Fatalf("%s: Events(%+v) = %v, want %v", step, f, seqs(got), want)
			}
		}
	}
	save := func(i int, e *store.Event) {
		t.Helper()
		if _, err := db.Save(ctx, e); err != nil {
			t.Fatalf("Save %d: %v", i, err)
		}
	}
	at := func(i int) time.Time { return storetest.T0.Add(time.Duration(i) * time.Minute) }
	for i := range 120 {
		switch i % 4 {
		case 0:
			save(i, storetest.NewEvent(prolific.EventStudyStatusChange, fmt.Sprint("study-", i%3), "ACTIVE", at(i)))
		default:
			e := storetest.NewEvent(prolific.EventSubmissionStatusChange, fmt.Sprint("sub-", i%7), "AWAITING REVIEW", at(i))
			if i%7 < 3 { // sub-3 … sub-6 have no study until SetSubmissionStudy
				e.StudyID = fmt.Sprint("study-", i%7)
			}
			save(i, e)
		}
		if i == 50 {
			check("before a study is set")
			if err := db.SetSubmissionStudy(ctx, "sub-3", "study-1"); err != nil {
				t.Fatal(err)
			}
			check("a study set on keyed events")
		}
		if i%23 == 0 {
			check(fmt.Sprint("after event ", i))
		}
	}
	// sub-4's newest events are in the tail, its oldest keyed.
	if err := db.SetSubmissionStudy(ctx, "sub-4", "study-2"); err != nil {
		t.Fatal(err)
	}
	check("a study set on keyed and tail events")
	if n, err := db.PruneEvents(ctx, at(40), 1000); err != nil || n == 0 {
		t.Fatalf("PruneEvents = %d, %v; want some pruned", n, err)
	}
	check("after a prune")
	if !tailSeen {
		t.Fatal("no check saw both keyed events and a tail")
	}
}

type keyedEvent struct {
	seq                      int64
	typ, resourceID, studyID string
}

// scanEvents reads every stored event's keys by seq, past the keys.
func scanEvents(t *testing.T, db *DB) []keyedEvent {
	t.Helper()
	rows, err := db.read.Query(`SELECT seq, type, resource_id, study_id FROM events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []keyedEvent
	for rows.Next() {
		var e keyedEvent
		if err := rows.Scan(&e.seq, &e.typ, &e.resourceID, &e.studyID); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// checkKeyTables compares the key tables with the keys of the events up to
// event_keys_done (and that with keysDone).
func checkKeyTables(t *testing.T, db *DB, all []keyedEvent, step string) {
	t.Helper()
	var done int64
	if err := db.read.QueryRow(sqlKeysDone).Scan(&done); err != nil || done != db.keysDone.Load() {
		t.Fatalf("%s: event_keys_done = %d (%v), keysDone = %d", step, done, err, db.keysDone.Load())
	}
	var studies, resources []string
	for _, e := range all {
		if e.seq > done {
			continue
		}
		if e.studyID != "" {
			studies = append(studies, fmt.Sprint(e.studyID, " ", e.seq))
		}
		resources = append(resources, fmt.Sprint(e.resourceID, " ", e.seq))
	}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{`SELECT study_id || ' ' || seq FROM event_study_keys`, studies},
		{`SELECT resource_id || ' ' || seq FROM event_resource_keys`, resources},
	} {
		var got []string
		rows, err := db.read.Query(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k string
			rows.Scan(&k)
			got = append(got, k)
		}
		rows.Close()
		slices.Sort(got)
		slices.Sort(tc.want)
		if !slices.Equal(got, tc.want) {
			t.Fatalf("%s: %s = %v, want %v", step, tc.q, got, tc.want)
		}
	}
}

// keyFilters is every listing by study or resource the test compares.
func keyFilters(all []keyedEvent) []store.EventFilter {
	mid := all[len(all)/2].seq
	var fs []store.EventFilter
	for _, key := range []store.EventFilter{{StudyID: "study-1"}, {StudyID: "study-2"}, {StudyID: "none"},
		{ResourceID: "sub-3"}, {ResourceID: "sub-4"}, {ResourceID: "study-0"},
		{ResourceID: "sub-4", StudyID: "study-2"}, {StudyID: "study-0", Type: prolific.EventStudyStatusChange}} {
		for _, f := range []store.EventFilter{{}, {Limit: 3}, {BeforeSeq: mid}, {BeforeSeq: mid, Limit: 2},
			{Forward: true}, {Forward: true, AfterSeq: mid, Limit: 4}} {
			f.StudyID, f.ResourceID, f.Type = key.StudyID, key.ResourceID, key.Type
			fs = append(fs, f)
		}
	}
	return fs
}

// filterEvents is what Events(f) should return, by a scan of all.
func filterEvents(all []keyedEvent, f store.EventFilter) []int64 {
	var out []int64
	keep := func(e keyedEvent) bool {
		return (f.StudyID == "" || e.studyID == f.StudyID) && (f.ResourceID == "" || e.resourceID == f.ResourceID) &&
			(f.Type == "" || e.typ == f.Type)
	}
	n := limit(f.Limit, 100)
	if f.Forward {
		for _, e := range all {
			if e.seq > f.AfterSeq && keep(e) && len(out) < n {
				out = append(out, e.seq)
			}
		}
		return out
	}
	for i := len(all) - 1; i >= 0; i-- {
		if e := all[i]; (f.BeforeSeq == 0 || e.seq < f.BeforeSeq) && keep(e) && len(out) < n {
			out = append(out, e.seq)
		}
	}
	return out
}

func seqs(events []store.Event) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}

// TestEventKeysAcrossReopen keys events, reopens the file, and keys more:
// the pass after the reopen starts where the file's keys end (a pass from
// zero would collide with the keys already written and fail the batch).
func TestEventKeysAcrossReopen(t *testing.T) {
	t.Cleanup(SetKeysEvery(5))
	path := filepath.Join(t.TempDir(), "receiver.db")
	ctx := context.Background()
	for round := range 2 {
		db, err := Open(path, store.Options{})
		if err != nil {
			t.Fatalf("Open %d: %v", round, err)
		}
		for i := range 12 {
			e := storetest.NewEvent(prolific.EventSubmissionStatusChange, fmt.Sprint("sub-", i%4), "ACTIVE", storetest.T0)
			e.StudyID = "study-1"
			if _, err := db.Save(ctx, e); err != nil {
				t.Fatalf("round %d: Save %d: %v", round, i, err)
			}
		}
		all := scanEvents(t, db)
		checkKeyTables(t, db, all, fmt.Sprint("round ", round))
		if got, _ := db.Events(ctx, store.EventFilter{StudyID: "study-1"}); len(got) != len(all) {
			t.Fatalf("round %d: %d events of study-1, want %d", round, len(got), len(all))
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEventKeysMigration opens a file written before migration 0008 (made by
// undoing it): the migration keys every stored event, a study's and a
// resource's listings find them, and the two indexes are gone.
func TestEventKeysMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receiver.db")
	ctx := context.Background()
	db, err := Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		e := storetest.NewEvent(prolific.EventSubmissionStatusChange, fmt.Sprint("sub-", i%3), "ACTIVE", storetest.T0)
		e.StudyID = fmt.Sprint("study-", i%2)
		if _, err := db.Save(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	before0008(t, raw)
	raw.Close()

	db = openAt(t, path)
	all := scanEvents(t, db)
	if db.keysDone.Load() != all[len(all)-1].seq {
		t.Fatalf("keys end at %d after the migration, want %d", db.keysDone.Load(), all[len(all)-1].seq)
	}
	checkKeyTables(t, db, all, "migrated")
	for _, f := range []store.EventFilter{{StudyID: "study-1"}, {ResourceID: "sub-2"}} {
		got, err := db.Events(ctx, f)
		if want := filterEvents(all, f); err != nil || len(want) == 0 || !slices.Equal(seqs(got), want) {
			t.Fatalf("Events(%+v) = %v, %v; want %v", f, seqs(got), err, want)
		}
	}
	var n int
	if err := db.read.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name IN ('events_study_seq', 'events_resource_seq')`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("old indexes left: %d (%v)", n, err)
	}
}

// before0008 turns the file raw is open on back into what it was before
// migration 0008: the two (key, seq) indexes instead of the key tables, and
// 0008 not recorded.
func before0008(t *testing.T, raw *sql.DB) {
	t.Helper()
	for _, q := range []string{`DROP TABLE event_study_keys`, `DROP TABLE event_resource_keys`, `DROP TABLE event_keys_done`,
		`CREATE INDEX events_resource_seq ON events (resource_id, seq)`, `CREATE INDEX events_study_seq ON events (study_id, seq)`,
		`DELETE FROM schema_migrations WHERE version = 8`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func openAt(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path, store.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestKeyPassToleratesAKeyAlreadyThere: a key the pass finds already written
// (which no path writes today) is the same fact twice; the batch carrying
// the pass must still be stored, or every batch after it would fail too.
func TestKeyPassToleratesAKeyAlreadyThere(t *testing.T) {
	t.Cleanup(SetKeysEvery(5))
	db := openKeysTest(t)
	ctx := context.Background()
	save := func(n int) {
		t.Helper()
		for i := range n {
			e := storetest.NewEvent(prolific.EventSubmissionStatusChange, fmt.Sprint("sub-", i), "ACTIVE", storetest.T0)
			e.StudyID = "study-1"
			if _, err := db.Save(ctx, e); err != nil {
				t.Fatalf("Save: %v", err)
			}
		}
	}
	save(2)
	all := scanEvents(t, db)
	if _, err := db.write.ExecContext(ctx, `INSERT INTO event_study_keys (study_id, seq) VALUES ('study-1', ?)`, all[1].seq); err != nil {
		t.Fatal(err)
	}
	save(6)
	if db.keysDone.Load() == 0 {
		t.Fatal("no pass ran")
	}
	checkKeyTables(t, db, scanEvents(t, db), "after the pass")
}
