package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// TestFeedFromMemoryEqualsTable: once the feed has been read, pages of
// newly stored events come from memory, and are what the events table
// gives for the same range, filter and limit (the study a submission's
// later event taught included); a range memory does not hold (stored
// before the first read) comes from the table.
func TestFeedFromMemoryEqualsTable(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "receiver.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	save := func(e *store.Event) {
		t.Helper()
		if out, err := db.Save(ctx, e); err != nil || out != store.Stored {
			t.Fatalf("Save %s: %v %v", e.ID, out, err)
		}
	}
	const sub, studyStatus = "submission.status.change", "study.status.change"
	before := storetest.NewEvent(studyStatus, "study-0", "ACTIVE", storetest.T0)
	save(before)
	if _, err := db.Feed(ctx, store.FeedFilter{}); err != nil { // the first read: memory keeps what follows
		t.Fatal(err)
	}
	at := func(i int) time.Time { return storetest.T0.Add(time.Duration(i) * time.Second) }
	var all []*store.Event
	for i := range 40 {
		var e *store.Event
		switch i % 5 {
		case 0:
			e = storetest.NewEvent(studyStatus, fmt.Sprint("study-", i), "COMPLETED", at(i))
		case 1:
			e = storetest.NewEvent("study.progress.change", fmt.Sprint("study-", i), "", at(i))
		case 2: // a submission whose study is not known when it is stored
			e = storetest.NewEvent(sub, fmt.Sprint("sub-", i), "AWAITING REVIEW", at(i))
		case 3: // its next event names the study (as a backfilled one does)
			e = storetest.NewEvent(sub, fmt.Sprint("sub-", i-1), "APPROVED", at(i))
			e.StudyID, e.Source = "study-x", store.SourceAPI
		default:
			e = storetest.NewEvent(sub, fmt.Sprint("sub-", i), "RETURNED", at(i))
			e.Source = store.SourceReconcile
		}
		save(e)
		all = append(all, e)
	}
	matches := [][]store.EventMatch{
		nil,
		{{Types: []string{sub}, Statuses: []string{"APPROVED", "AWAITING REVIEW"}}, {Types: []string{studyStatus}}},
		{{Sources: []string{store.SourceReconcile}}, {Types: []string{"study.progress.change"}}},
	}
	bound := all[len(all)-1].Seq
	for mi, ms := range matches {
		for _, after := range []int64{before.Seq, all[7].Seq, bound - 1} {
			for _, n := range []int{3, 1000} {
				mem, ok, err := db.feedFromMemory(ctx, after, bound, ms, n)
				if err != nil || !ok {
					t.Fatalf("match %d after %d: from memory: ok %v, %v; want the page", mi, after, ok, err)
				}
				table, err := db.feedFromTable(ctx, after, bound, ms, n)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(mem, table) {
					t.Errorf("match %d after %d limit %d: memory and table differ:\n mem %+v\ntable %+v", mi, after, n, mem, table)
				}
			}
		}
	}
	if mem, _, _ := db.feedFromMemory(ctx, all[1].Seq, bound, matches[1], 1); len(mem) != 1 || mem[0].StudyID != "study-x" {
		t.Errorf("the submission stored without a study: from memory %+v, want study-x (taught by its later event)", mem)
	}
	if _, ok, _ := db.feedFromMemory(ctx, before.Seq-1, bound, nil, 10); ok {
		t.Error("memory claims a range holding an event stored before the feed was first read")
	}
	page, err := db.Feed(ctx, store.FeedFilter{AfterSeq: before.Seq - 1, Limit: 2})
	if err != nil || len(page.Events) != 2 || page.Events[0].ID != before.ID || page.Through != all[0].Seq {
		t.Errorf("Feed from before the first read: %+v, %v; want the first two events through %d", page, err, all[0].Seq)
	}
}

// TestRecentFeedGapStartsAfresh: a seq that does not follow the last one
// kept empties memory, so it never claims a range with a hole in it; and
// it keeps the newest recentCap events, the oldest overwritten.
func TestRecentFeedGapStartsAfresh(t *testing.T) {
	var r recentFeed
	stored := func(seqs ...int64) {
		var es []*store.Event
		var out []store.Outcome
		for _, s := range seqs {
			es = append(es, &store.Event{Seq: s, ID: fmt.Sprint("e", s)}, &store.Event{ID: "dup"})
			out = append(out, store.Stored, store.Duplicate)
		}
		r.add(es, out, 0)
	}
	stored(1, 2)
	if _, ok := r.page(0, 2, nil, 10); ok {
		t.Fatal("memory kept events before it was enabled")
	}
	r.enable()
	stored(3, 4, 5)
	if got, ok := r.page(2, 5, nil, 10); !ok || len(got) != 3 || got[0].Seq != 3 {
		t.Fatalf("page(2, 5) = %+v, %v; want seqs 3-5", got, ok)
	}
	stored(7) // 6 was not seen
	if _, ok := r.page(4, 7, nil, 10); ok {
		t.Error("memory claims 5-7 across the missing 6")
	}
	if got, ok := r.page(6, 7, nil, 10); !ok || len(got) != 1 || got[0].Seq != 7 {
		t.Errorf("page(6, 7) = %+v, %v; want seq 7", got, ok)
	}
	for s := int64(8); s < 8+3*recentCap; s++ {
		stored(s)
	}
	last := int64(8 + 3*recentCap - 1)
	oldest := last - recentCap + 1
	if _, ok := r.page(oldest-2, last, nil, 10); ok {
		t.Errorf("memory claims seq %d, overwritten since", oldest-1)
	}
	got, ok := r.page(oldest-1, last, nil, 3)
	if !ok || len(got) != 3 || got[0].Seq != oldest || got[0].ID != fmt.Sprint("e", oldest) {
		t.Errorf("page from the oldest kept = %+v, %v; want seqs from %d", got, ok, oldest)
	}
}

// TestFeedFromMemoryLearntStudy: a submission event stored without its
// study gets the study the store learns later, from memory as from the
// table: by enrichment (SetSubmissionStudy), and by a later event of the
// same batch naming it.
func TestFeedFromMemoryLearntStudy(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "receiver.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Feed(ctx, store.FeedFilter{}); err != nil {
		t.Fatal(err)
	}
	const sub = "submission.status.change"
	a := storetest.NewEvent(sub, "sub-a", "AWAITING REVIEW", storetest.T0)
	b := storetest.NewEvent(sub, "sub-b", "AWAITING REVIEW", storetest.T0)
	for _, e := range []*store.Event{a, b} {
		if _, err := db.Save(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	same := func(want map[string]string) {
		t.Helper()
		bound := int64(0)
		_ = db.read.QueryRow(`SELECT max(seq) FROM events`).Scan(&bound)
		mem, ok, err := db.feedFromMemory(ctx, a.Seq-1, bound, nil, 100)
		if err != nil || !ok {
			t.Fatalf("from memory: %v, %v", ok, err)
		}
		table, err := db.feedFromTable(ctx, a.Seq-1, bound, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(mem, table) {
			t.Fatalf("memory and table differ:\n mem %+v\ntable %+v", mem, table)
		}
		for _, e := range mem {
			if e.StudyID != want[e.ResourceID] {
				t.Errorf("%s: study %q, want %q", e.ResourceID, e.StudyID, want[e.ResourceID])
			}
		}
	}
	same(map[string]string{})
	if err := db.SetSubmissionStudy(ctx, "sub-a", "study-a"); err != nil {
		t.Fatal(err)
	}
	same(map[string]string{"sub-a": "study-a"})
	// One batch: sub-c's first event without its study, its next naming it.
	c1 := storetest.NewEvent(sub, "sub-c", "ACTIVE", storetest.T0)
	c2 := storetest.NewEvent(sub, "sub-c", "AWAITING REVIEW", storetest.T0.Add(time.Second))
	c2.StudyID, c2.Source = "study-c", store.SourceAPI
	if _, err := db.commit(ctx, []*store.Event{c1, c2}); err != nil {
		t.Fatal(err)
	}
	same(map[string]string{"sub-a": "study-a", "sub-c": "study-c"})
}
