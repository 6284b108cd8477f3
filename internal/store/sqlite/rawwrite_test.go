package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// TestRawWriterActive: the events INSERT runs through rawWriter on the
// writer connection's own handle. It fails when a driver upgrade changes
// the connection's shape (the store would then quietly fall back to
// database/sql and lose the saving), or when the handle found is not the
// writer's file.
func TestRawWriterActive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receiver.db")
	db, err := Open(path, store.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	ctx := context.Background()

	conn, err := db.write.Conn(ctx)
	if err != nil {
		t.Fatalf("Conn: %v", err)
	}
	var handle uintptr
	if err := conn.Raw(func(dc any) error { handle = rawHandle(dc); return nil }); err != nil {
		t.Fatalf("Raw: %v", err)
	}
	if handle == 0 {
		conn.Close()
		t.Fatal("rawHandle of the writer's connection = 0: the driver's connection type changed; the events INSERT falls back to database/sql")
	}
	tls := libc.NewTLS()
	defer tls.Close()
	main, _ := libc.CString("main")
	defer libc.Xfree(tls, main)
	got := libc.GoString(sqlite3.Xsqlite3_db_filename(tls, handle, main))
	conn.Close()
	if want, _ := filepath.EvalSymlinks(path); got != path && got != want {
		t.Fatalf("file of the raw handle = %q, want %q", got, path)
	}

	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	e := &store.Event{ID: "evt-1", Type: "submission.status.change", ResourceID: "sub-1", Status: "APPROVED",
		EventTime: at, ReceivedAt: at, ContentHash: store.ContentHash("1740830400", []byte(`{"x":1}`)), Body: []byte(`{"x":1}`)}
	if o, err := db.Save(ctx, e); err != nil || o != store.Stored {
		t.Fatalf("Save = %v, %v; want Stored", o, err)
	}
	if db.ins.db != handle || db.ins.stmts[rawInsertEvent] == 0 {
		t.Errorf("raw statements prepared on handle %#x (stmt %#x), want the writer's %#x", db.ins.db, db.ins.stmts[rawInsertEvent], handle)
	}
}

// TestRawInsertValues: what rawWriter stores reads back as saved,
// empty strings and an empty body included (an empty BLOB, not NULL, which
// the NOT NULL column would refuse), bodies larger than its first buffer,
// and a second delivery of an ID is a conflict, not an error.
func TestRawInsertValues(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "receiver.db"), store.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	ctx := context.Background()
	big := make([]byte, 100_000)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
	for i, body := range [][]byte{nil, []byte(`{}`), big, []byte("\x00nul\xffbytes")} {
		e := &store.Event{ID: "evt-" + string(rune('a'+i)), Type: "study.status.change", ResourceID: "study-1",
			EventTime: at, ReceivedAt: at.Add(time.Second), SignatureForm: "raw",
			ContentHash: store.ContentHash("1740830400", append(body, byte(i))), Body: body}
		if o, err := db.Save(ctx, e); err != nil || o != store.Stored {
			t.Fatalf("Save(body of %d bytes) = %v, %v; want Stored", len(body), o, err)
		}
		got, err := db.Event(ctx, e.ID)
		if err != nil {
			t.Fatalf("Event(%q): %v", e.ID, err)
		}
		if string(got.Body) != string(body) || got.Seq != e.Seq || got.ResourceID != "study-1" || got.Status != "" ||
			got.SignatureForm != "raw" || !got.EventTime.Equal(at) || got.ContentHash != e.ContentHash {
			t.Errorf("Event(%q) = seq %d, body %d bytes, status %q, form %q, time %v; want seq %d, body %d bytes",
				e.ID, got.Seq, len(got.Body), got.Status, got.SignatureForm, got.EventTime, e.Seq, len(body))
		}
		var kind, status string
		if err := db.read.QueryRowContext(ctx, `SELECT typeof(body), typeof(status) FROM events WHERE id = ?`, e.ID).
			Scan(&kind, &status); err != nil || kind != "blob" || status != "text" {
			t.Errorf("typeof(body), typeof(status) of %q = %q, %q, %v; want blob, text", e.ID, kind, status, err)
		}
	}
	again := &store.Event{ID: "evt-a", Type: "study.status.change", ResourceID: "study-9", EventTime: at, ReceivedAt: at,
		ContentHash: store.ContentHash("1740830400", []byte("other")), Body: []byte("other")}
	if o, err := db.Save(ctx, again); err != nil || o != store.Duplicate {
		t.Errorf("Save(same ID) = %v, %v; want Duplicate", o, err)
	}
}

// TestRawErrorClassified: an error the raw INSERT reports is recognised by
// the same checks as the driver's (poison isolation, full disk, fsync).
func TestRawErrorClassified(t *testing.T) {
	constraint := error(&rawError{code: int(sqlite3.SQLITE_CONSTRAINT_NOTNULL), msg: "NOT NULL constraint failed"})
	if !isolatable(constraint) {
		t.Errorf("isolatable(%v) = false, want true", constraint)
	}
	db := &DB{}
	full := db.classify(&rawError{code: sqliteFull, msg: "database or disk is full"})
	if !errors.Is(full, store.ErrDiskFull) || !db.diskFull.Load() {
		t.Errorf("classify(full) = %v (disk full noted: %t), want %v", full, db.diskFull.Load(), store.ErrDiskFull)
	}
	if err := db.classify(&rawError{code: sqliteIOErrFsync, msg: "disk I/O error"}); !errors.Is(err, store.ErrStorageFailed) {
		t.Errorf("classify(fsync) = %v, want %v", err, store.ErrStorageFailed)
	}
}
