package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// TestWALWritesGathered: each commit's WAL frames (two writes from SQLite
// for each page) reach the file in one write, and what a commit
// acknowledged is there for the read pool, which reads the WAL through the
// default VFS, as soon as Save returns.
func TestWALWritesGathered(t *testing.T) {
	ctx := context.Background()
	db := openFile(t, filepath.Join(t.TempDir(), "receiver.db"))
	const commits = 30
	gathered, writes := walGathered.Load(), walWrites.Load()
	for i := range commits {
		e := storetest.NewEvent("submission.status.change", fmt.Sprint("sub-", i), "ACTIVE", storetest.T0)
		if _, err := db.Save(ctx, e); err != nil {
			t.Fatalf("Save %d: %v", i, err)
		}
		if _, err := db.Event(ctx, e.ID); err != nil {
			t.Fatalf("event %d just acknowledged, read pool: %v", i, err)
		}
	}
	gathered, writes = walGathered.Load()-gathered, walWrites.Load()-writes
	// Other tests' databases may commit meanwhile; per commit of this one an
	// event row, its indexes and a submission row are several pages.
	if gathered < 6*commits {
		t.Fatalf("SQLite made %d WAL writes for %d commits: the writer does not open through the VFS", gathered, commits)
	}
	if writes > gathered/3 {
		t.Errorf("%d WAL writes from SQLite reached the file as %d writes, want them gathered per commit", gathered, writes)
	}
}

// TestWALWriteFailureFailsCommit: when writing the gathered frames fails,
// the commit fails (the handler's 503), nothing of it is readable, and the
// next commit stores normally, also after reopening the file.
func TestWALWriteFailureFailsCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "receiver.db")
	db := openFile(t, path)
	first := storetest.NewEvent("study.status.change", "study-1", "ACTIVE", storetest.T0)
	if _, err := db.Save(ctx, first); err != nil {
		t.Fatal(err)
	}

	var fail atomic.Bool
	fail.Store(true)
	walWriteFault = func() bool { return fail.Load() }
	t.Cleanup(func() { walWriteFault = nil })
	lost := storetest.NewEvent("study.status.change", "study-1", "PAUSED", storetest.T0.Add(time.Minute))
	if _, err := db.Save(ctx, lost); err == nil {
		t.Fatal("Save succeeded although its WAL write failed")
	} else if !strings.Contains(err.Error(), "I/O") {
		t.Errorf("Save error = %v, want SQLite's disk I/O error", err)
	}
	fail.Store(false)
	if _, err := db.Event(ctx, lost.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("event of the failed commit: %v, want not found", err)
	}
	again := storetest.NewEvent("study.status.change", "study-1", "COMPLETED", storetest.T0.Add(2*time.Minute))
	if _, err := db.Save(ctx, again); err != nil {
		t.Fatalf("Save after the failure: %v", err)
	}

	db = reopen(t, db, path)
	for _, e := range []*store.Event{first, again} {
		if _, err := db.Event(ctx, e.ID); err != nil {
			t.Errorf("acknowledged event %s after reopening: %v", e.ID, err)
		}
	}
	if _, err := db.Event(ctx, lost.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("event of the failed commit after reopening: %v, want not found", err)
	}
	st, err := db.Study(ctx, "study-1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "COMPLETED" {
		t.Errorf("study status = %q, want COMPLETED", st.Status)
	}
	checkIntegrity(t, db)
}

// TestWALGatherLimit: a commit larger than what the VFS holds is written in
// parts as it goes, and reads back whole.
func TestWALGatherLimit(t *testing.T) {
	old := walGatherMax
	walGatherMax = 64 << 10
	t.Cleanup(func() { walGatherMax = old })
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "receiver.db")
	db := openFile(t, path)
	var wg sync.WaitGroup
	events := make([]*store.Event, 64)
	for i := range events {
		e := storetest.NewEvent("study.progress.change", fmt.Sprint("study-", i%5), "", storetest.T0)
		e.Body = []byte(`{"event_type":"study.progress.change","padding":"` + strings.Repeat("x", 20000+i) + `"}`)
		events[i] = e
		wg.Go(func() {
			if _, err := db.Save(ctx, e); err != nil {
				t.Errorf("Save: %v", err)
			}
		})
	}
	wg.Wait()
	db = reopen(t, db, path)
	for _, e := range events {
		got, err := db.Event(ctx, e.ID)
		if err != nil {
			t.Fatalf("event %s: %v", e.ID, err)
		}
		if string(got.Body) != string(e.Body) {
			t.Fatalf("event %s: body of %d bytes read back as %d bytes", e.ID, len(e.Body), len(got.Body))
		}
	}
	checkIntegrity(t, db)
}

// TestWriterSyncsEveryCommit: the VFS holds frames until SQLite syncs the
// log, so the writer must sync at every commit (synchronous=FULL).
func TestWriterSyncsEveryCommit(t *testing.T) {
	db := openFile(t, filepath.Join(t.TempDir(), "receiver.db"))
	var level int
	if err := db.write.QueryRow(`PRAGMA synchronous`).Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level < 2 {
		t.Errorf("writer synchronous = %d, want FULL (2) or EXTRA (3)", level)
	}
}

func checkIntegrity(t *testing.T, db *DB) {
	t.Helper()
	var res string
	if err := db.read.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity_check = %q, %v", res, err)
	}
}

// TestCommitWaitsForDeferredSync: the writer's commit leaves the log's
// fsync to the Batcher, which answers the batch only once that fsync
// returned; a failed fsync fails its batch, every later Save and Ping
// (the receiver turns unready), since the kernel may have dropped what it
// could not write.
func TestCommitWaitsForDeferredSync(t *testing.T) {
	ctx := context.Background()
	db, calls, save := openHeld(t)

	a := storetest.NewEvent("study.status.change", "study-1", "ACTIVE", storetest.T0)
	savedA := save(a)
	fsyncA := <-calls // committed; its callers wait for this fsync
	if _, err := db.Event(ctx, a.ID); err != nil {
		t.Errorf("committed event not readable while its fsync runs: %v", err)
	}
	select {
	case err := <-savedA:
		t.Fatalf("Save returned (%v) before the log's fsync did", err)
	case <-time.After(50 * time.Millisecond):
	}
	fsyncA.done <- nil
	if err := <-savedA; err != nil {
		t.Fatalf("Save after its fsync: %v", err)
	}

	b := storetest.NewEvent("study.status.change", "study-1", "PAUSED", storetest.T0.Add(time.Minute))
	savedB := save(b)
	(<-calls).done <- errors.New("input/output error")
	if err := <-savedB; err == nil || !strings.Contains(err.Error(), "sync WAL") {
		t.Errorf("Save whose fsync failed = %v, want the sync error", err)
	}
	if err := db.Ping(ctx); err == nil || !strings.Contains(err.Error(), "sync WAL") {
		t.Errorf("Ping after a failed fsync = %v, want the sync error", err)
	}
	c := storetest.NewEvent("study.status.change", "study-1", "ACTIVE", storetest.T0.Add(2*time.Minute))
	if _, err := db.Save(ctx, c); err == nil {
		t.Error("Save after a failed fsync succeeded; nothing written since can be called durable")
	}
}

// fsyncCall is one fsync of the log held by openHeld: it returns what the
// test sends on done.
type fsyncCall struct{ done chan error }

// openHeld opens a store whose log fsyncs the test answers: each one
// arrives on calls and waits for its done (at the test's end, later ones
// pass at once, so the store closes). save runs a Save in a goroutine and
// returns the channel its error arrives on.
func openHeld(t *testing.T) (db *DB, calls <-chan fsyncCall, save func(*store.Event) chan error) {
	t.Helper()
	ch := make(chan fsyncCall)
	stop := make(chan struct{})
	old := walFsync
	walFsync = func(int) error {
		c := fsyncCall{done: make(chan error, 1)}
		select {
		case ch <- c:
			return <-c.done
		case <-stop:
			return nil
		}
	}
	t.Cleanup(func() { walFsync = old })
	db = openFile(t, filepath.Join(t.TempDir(), "receiver.db"))
	t.Cleanup(func() { close(stop) }) // before openFile's Close
	if db.wal() == nil {
		t.Fatal("the writer's log syncs are not deferred")
	}
	save = func(e *store.Event) chan error {
		res := make(chan error, 1)
		go func() {
			_, err := db.Save(context.Background(), e)
			res <- err
		}()
		return res
	}
	return db, ch, save
}

// TestNextCommitOverlapsTheSync: while one batch's fsync runs, the writer
// commits the next batch (the overlap the deferred sync exists for); it
// must not wait for that fsync before starting, as it did when its check
// for a failed fsync took the lock the fsync holds. If the running fsync
// then fails, the batch committed meanwhile is not acknowledged either.
func TestNextCommitOverlapsTheSync(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("first fsync fails=%v", fail), func(t *testing.T) {
			ctx := context.Background()
			db, calls, save := openHeld(t)
			a := storetest.NewEvent("study.status.change", "study-1", "ACTIVE", storetest.T0)
			savedA := save(a)
			fsyncA := <-calls
			b := storetest.NewEvent("study.status.change", "study-2", "ACTIVE", storetest.T0)
			savedB := save(b)
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, err := db.Event(ctx, b.ID); err == nil {
					break
				}
				if time.Now().After(deadline) {
					fsyncA.done <- nil
					t.Fatal("the next batch was not committed while the first one's fsync ran")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if !fail {
				fsyncA.done <- nil
				if err := <-savedA; err != nil {
					t.Fatalf("Save A: %v", err)
				}
				(<-calls).done <- nil // B's own fsync: it was written after A's began
				if err := <-savedB; err != nil {
					t.Fatalf("Save B: %v", err)
				}
				return
			}
			fsyncA.done <- errors.New("input/output error")
			if err := <-savedA; err == nil {
				t.Error("Save A succeeded after its fsync failed")
			}
			select {
			case c := <-calls:
				c.done <- nil // a later fsync that succeeds must not make B durable
			case err := <-savedB:
				savedB <- err
			}
			if err := <-savedB; err == nil {
				t.Error("Save B, committed while a failing fsync ran, was acknowledged")
			}
		})
	}
}

// reopen closes db and opens the file at path again, closed at the test's end.
func reopen(t *testing.T, db *DB, path string) *DB {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return openFile(t, path)
}

// openFile opens the database at path, closed at the test's end.
func openFile(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestFailedFsyncStopsTheStore: after a failed fsync of the log the store
// is failed for good (docs/powerloss.md): Save and Ping return
// store.ErrStorageFailed, Options.OnFatal hears it once, and Close leaves
// the log as it is (SQLite's checkpoint at close could copy frames from
// behind a hole into the database file). Opening the file again works and
// finds what was acknowledged.
func TestFailedFsyncStopsTheStore(t *testing.T) {
	var fail atomic.Bool
	old := walFsync
	walFsync = func(fd int) error {
		if fail.Load() {
			return errors.New("input/output error")
		}
		return old(fd)
	}
	t.Cleanup(func() { walFsync = old })
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "receiver.db")
	fatal := make(chan error, 4)
	db, err := Open(path, store.Options{OnFatal: func(err error) { fatal <- err }})
	if err != nil {
		t.Fatal(err)
	}
	a := storetest.NewEvent("study.status.change", "study-1", "ACTIVE", storetest.T0)
	if _, err := db.Save(ctx, a); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	b := storetest.NewEvent("study.status.change", "study-1", "PAUSED", storetest.T0.Add(time.Minute))
	if _, err := db.Save(ctx, b); !errors.Is(err, store.ErrStorageFailed) {
		t.Fatalf("Save whose fsync failed = %v, want store.ErrStorageFailed", err)
	}
	fail.Store(false)
	if _, err := db.Save(ctx, storetest.NewEvent("study.status.change", "study-2", "ACTIVE", storetest.T0)); !errors.Is(err, store.ErrStorageFailed) {
		t.Errorf("Save after a failed fsync = %v, want store.ErrStorageFailed though fsync works again", err)
	}
	if err := db.Ping(ctx); !errors.Is(err, store.ErrStorageFailed) {
		t.Errorf("Ping after a failed fsync = %v, want store.ErrStorageFailed", err)
	}
	select {
	case err := <-fatal:
		if !errors.Is(err, store.ErrStorageFailed) {
			t.Errorf("OnFatal heard %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnFatal not called")
	}
	if err := db.Close(); err == nil || !strings.Contains(err.Error(), "without a checkpoint") {
		t.Errorf("Close of a failed store = %v, want it to say it left the log unchecked", err)
	}
	if st, err := os.Stat(path + "-wal"); err != nil || st.Size() == 0 {
		t.Errorf("the log after closing a failed store: %v (size %v); SQLite's close checkpoint ran", err, st)
	}
	select {
	case err := <-fatal:
		t.Errorf("OnFatal called twice (%v)", err)
	default:
	}
	db2 := openFile(t, path)
	if _, err := db2.Event(ctx, a.ID); err != nil {
		t.Errorf("acknowledged event after reopening: %v", err)
	}
	if _, err := db2.Save(ctx, storetest.NewEvent("study.status.change", "study-3", "ACTIVE", storetest.T0)); err != nil {
		t.Errorf("Save after reopening: %v", err)
	}
}

// TestWriterStatementJournalInMemory: the writer keeps statement journals
// in memory (temp_store=MEMORY), so a statement changing many rows never
// opens and writes a temporary file on the write path.
func TestWriterStatementJournalInMemory(t *testing.T) {
	db := openFile(t, filepath.Join(t.TempDir(), "receiver.db"))
	var store int
	if err := db.write.QueryRow(`PRAGMA temp_store`).Scan(&store); err != nil {
		t.Fatal(err)
	}
	if store != 2 {
		t.Errorf("writer temp_store = %d, want MEMORY (2)", store)
	}
}
