package postgres_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// feedUntil pages the change feed after seq `after` until it holds want
// events or a deadline passes (another test's long transaction on the same
// server may hold the feed back for a while).
func feedUntil(t *testing.T, db *postgres.DB, after int64, want int) []store.Event {
	t.Helper()
	var got []store.Event
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		page, err := db.Events(ctxT(t), store.EventFilter{Forward: true, AfterSeq: after, Limit: 50})
		if err != nil {
			t.Fatalf("Events forward after %d: %v", after, err)
		}
		got = append(got, page...)
		if len(page) > 0 {
			after = page[len(page)-1].Seq
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return got
}

// TestFeedWaitsForLowerSeqStillInFlight: a transaction that drew a lower seq
// and has not committed keeps a later, committed event out of the feed; once
// it commits, the feed holds both in seq order. A feed that paged on seq
// alone would hand out the later event first and then skip the earlier one.
func TestFeedWaitsForLowerSeqStillInFlight(t *testing.T) {
	dsn := pgtest.DSN(t)
	db := open(t, dsn, store.Options{})
	postgres.SetFeedWait(db, 300*time.Millisecond)
	first := event(studyStatus, "study-feed", "ACTIVE", t0)
	if out, err := db.Save(ctxT(t), first); err != nil || out != store.Stored {
		t.Fatalf("Save first: %v, %v", out, err)
	}

	// A writer that draws a seq and stalls.
	ctx := ctxT(t)
	tx := beginOther(t, ctx, dsn)
	var slowSeq int64
	err := tx.QueryRow(ctx, `INSERT INTO events (id, type, resource_id, event_time, received_at, body)
		VALUES ('evt-slow', $1, 'study-feed', now(), now(), '\x7b7d') RETURNING seq`, studyProgress).Scan(&slowSeq)
	if err != nil {
		t.Fatalf("stalled insert: %v", err)
	}

	late := event(studyProgress, "study-feed", "", t0.Add(time.Second))
	if out, err := db.Save(ctxT(t), late); err != nil || out != store.Stored {
		t.Fatalf("Save late: %v, %v", out, err)
	}
	if late.Seq <= slowSeq {
		t.Fatalf("late event seq %d, want above the stalled one's %d", late.Seq, slowSeq)
	}

	page, err := db.Events(ctxT(t), store.EventFilter{Forward: true, AfterSeq: first.Seq})
	if err != nil {
		t.Fatalf("Events forward: %v", err)
	}
	if len(page) != 0 {
		t.Fatalf("feed while seq %d is in flight = %v, want nothing past %d yet", slowSeq, seqs(page), first.Seq)
	}
	// Backward listing (the dashboard's) shows what is committed.
	newest, err := db.Events(ctxT(t), store.EventFilter{Limit: 1})
	if err != nil || len(newest) != 1 || newest[0].ID != late.ID {
		t.Fatalf("newest event = %v, %v; want %s", seqs(newest), err, late.ID)
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit stalled writer: %v", err)
	}
	got := feedUntil(t, db, 0, 3)
	if want := []int64{first.Seq, slowSeq, late.Seq}; !slices.Equal(seqs(got), want) {
		t.Fatalf("feed after commit = %v, want %v", seqs(got), want)
	}
}

// TestFeedIgnoresOtherTransactions: a long transaction that writes
// elsewhere on the server (it holds the oldest running transaction ID) does
// not hold the feed back; only writers of the events table do.
func TestFeedIgnoresOtherTransactions(t *testing.T) {
	dsn := pgtest.DSN(t)
	db := open(t, dsn, store.Options{})
	postgres.SetFeedWait(db, 300*time.Millisecond)
	ctx := ctxT(t)
	other := beginOther(t, ctx, dsn)
	if _, err := other.Exec(ctx, `CREATE TEMP TABLE unrelated (n int); INSERT INTO unrelated VALUES (1)`); err != nil {
		t.Fatalf("unrelated write: %v", err)
	}
	e := event(studyStatus, "study-other", "ACTIVE", t0)
	if out, err := db.Save(ctx, e); err != nil || out != store.Stored {
		t.Fatalf("Save: %v, %v", out, err)
	}
	page, err := db.Events(ctx, store.EventFilter{Forward: true})
	if err != nil {
		t.Fatalf("Events forward: %v", err)
	}
	if got := seqs(page); !slices.Equal(got, []int64{e.Seq}) {
		t.Errorf("feed beside an unrelated open transaction = %v, want [%d]", got, e.Seq)
	}
}

// TestFeedUnderConcurrentReplicas: two replicas (four committers each)
// store events while a reader follows the feed; the reader ends with every
// stored event exactly once, in seq order.
func TestFeedUnderConcurrentReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 1,200 events from two replicas; runs without -short")
	}
	dsn := pgtest.DSN(t)
	replicas := []*postgres.DB{open(t, dsn, store.Options{}), open(t, dsn, store.Options{})}
	reader := replicas[0]
	postgres.SetFeedWait(reader, 5*time.Second)

	const writers, perWriter = 12, 100
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		db := replicas[w%len(replicas)]
		wg.Go(func() {
			for i := range perWriter {
				e := event(submissionStatus, fmt.Sprintf("sub-%d-%d", w, i%7), "ACTIVE", t0.Add(time.Duration(i)*time.Second))
				if _, err := db.Save(ctxT(t), e); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var followed []store.Event
	var after int64
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		page, err := reader.Events(ctxT(t), store.EventFilter{Forward: true, AfterSeq: after, Limit: 37})
		if err != nil {
			t.Fatalf("Events forward after %d: %v", after, err)
		}
		followed = append(followed, page...)
		if len(page) > 0 {
			after = page[len(page)-1].Seq
		}
		if finished && len(page) == 0 {
			break
		}
	}
	close(errs)
	var failed []error
	for err := range errs {
		failed = append(failed, err)
	}
	if err := errors.Join(failed...); err != nil {
		t.Fatalf("Save: %v", err)
	}
	// Whatever the feed may still hold back, give it time to settle.
	followed = append(followed, feedUntil(t, reader, after, writers*perWriter-len(followed))...)

	var all []int64
	for before := int64(0); ; {
		page, err := reader.Events(ctxT(t), store.EventFilter{BeforeSeq: before, Limit: store.MaxLimit})
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		for _, e := range page {
			all = append(all, e.Seq)
		}
		if len(page) < store.MaxLimit {
			break
		}
		before = page[len(page)-1].Seq
	}
	slices.Sort(all)
	if len(all) != writers*perWriter {
		t.Fatalf("stored %d events, want %d", len(all), writers*perWriter)
	}
	if got := seqs(followed); !slices.Equal(got, all) {
		t.Fatalf("feed followed %d events, stored %d; first difference at %d", len(got), len(all), firstDiff(got, all))
	}
}

func seqs(events []store.Event) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}

func firstDiff(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestFeedRefusesCachedSequence: with the events sequence set to hand each
// session a block of values (CACHE > 1), seqs stop being drawn in commit
// order and the feed's bound is unsound: forward reads fail with
// store.ErrFeedUnavailable, naming the fix, while backward reads and saves go on.
// Back at CACHE 1 the feed pages again.
func TestFeedRefusesCachedSequence(t *testing.T) {
	dsn := pgtest.DSN(t)
	db := open(t, dsn, store.Options{})
	e := event(studyStatus, "study-cache", "ACTIVE", t0)
	if _, err := db.Save(ctxT(t), e); err != nil {
		t.Fatal(err)
	}
	other := beginOther(t, ctxT(t), dsn)
	if _, err := other.Exec(ctxT(t), `ALTER SEQUENCE events_seq_seq CACHE 20`); err != nil {
		t.Fatal(err)
	}
	if err := other.Commit(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	_, err := db.Events(ctxT(t), store.EventFilter{Forward: true})
	if !errors.Is(err, store.ErrFeedUnavailable) || !strings.Contains(err.Error(), "CACHE 1") {
		t.Fatalf("forward read with CACHE 20 = %v, want ErrFeedUnavailable naming CACHE 1", err)
	}
	if page, err := db.Events(ctxT(t), store.EventFilter{Limit: 5}); err != nil || len(page) != 1 {
		t.Fatalf("backward read with CACHE 20 = %d events, %v; want the one stored", len(page), err)
	}
	if _, err := db.Save(ctxT(t), event(studyProgress, "study-cache", "", t0.Add(time.Second))); err != nil {
		t.Fatalf("Save with CACHE 20: %v", err)
	}

	fix := beginOther(t, ctxT(t), dsn)
	if _, err := fix.Exec(ctxT(t), `ALTER SEQUENCE events_seq_seq CACHE 1`); err != nil {
		t.Fatal(err)
	}
	if err := fix.Commit(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := feedUntil(t, db, 0, 2); len(got) != 2 {
		t.Fatalf("feed after CACHE 1 again = %v, want both events", seqs(got))
	}
}
