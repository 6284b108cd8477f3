package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// The events INSERT is the writer's most frequent statement (one per event),
// then the submission and study upserts (one per row a batch touches).
// Through database/sql and the driver each call pays for converting and
// checking its arguments, the driver copying each string and the body into
// memory it allocates and frees, and looking up each parameter's name
// (bench/profiling.md, fourteenth look). rawWriter runs the same statements
// through modernc's library directly on the write connection's handle: the
// values are copied into one reused buffer and bound in place.
//
// The handle is read from the driver's connection inside the writer's
// transaction (sql.Conn.Raw), so it is the connection that holds the
// transaction, and nothing else uses it until the transaction ends. The
// driver does not export it: rawHandle finds its field by reflection on the
// driver's type, once, and the store falls back to database/sql when the
// type does not have the expected shape (TestRawWriterActive fails then).

// rawLayout is where the driver's connection keeps its SQLite handle.
var rawLayout struct {
	once sync.Once
	typ  reflect.Type // *sqlite.conn
	off  uintptr      // offset of its db field (uintptr: *sqlite3)
}

// rawHandle returns the SQLite handle of the driver connection dc (as given
// by sql.Conn.Raw), or 0 when dc is not modernc's connection as expected.
func rawHandle(dc any) uintptr {
	t := reflect.TypeOf(dc)
	rawLayout.once.Do(func() {
		if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct ||
			t.Elem().PkgPath() != "modernc.org/sqlite" || t.Elem().Name() != "conn" {
			return
		}
		f, ok := t.Elem().FieldByName("db")
		if !ok || f.Type.Kind() != reflect.Uintptr || len(f.Index) != 1 {
			return
		}
		rawLayout.typ, rawLayout.off = t, f.Offset
	})
	if rawLayout.typ == nil || t != rawLayout.typ {
		return 0
	}
	return *(*uintptr)(unsafe.Add(reflect.ValueOf(dc).UnsafePointer(), rawLayout.off))
}

// rawError is an error SQLite reported to rawWriter. Code is the
// extended result code, as *sqlite.Error's (see classify and isolatable).
type rawError struct {
	code int
	msg  string
}

func (e *rawError) Error() string { return fmt.Sprintf("%s (%d)", e.msg, e.code) }

// Code returns the extended result code.
func (e *rawError) Code() int { return e.code }

// rawWriter holds the hot statements prepared on one handle. Only the
// write connection's transactions use it (a batch's commit, the rules
// engine's decisions), and that connection is the only one of its pool, so
// never concurrently.
type rawWriter struct {
	tls    *libc.TLS
	db     uintptr                // the handle the statements belong to (0: none yet)
	stmts  [rawStatements]uintptr // by rawInsertEvent, rawUpsertSubmission, ...
	buf    uintptr                // the bound strings and blobs of one statement (libc's heap)
	bufCap int
}

const (
	rawInsertEvent = iota
	rawUpsertSubmission
	rawUpsertStudy
	rawInsertAction // the rules engine's decisions (rules.go)
	rawStatements
)

var rawSQL = [rawStatements]string{sqlInsertEvent, sqlUpsertSubmission, sqlUpsertStudy, sqlInsertAction}

func newRawWriter() *rawWriter { return &rawWriter{tls: libc.NewTLS()} }

// use makes the statements belong to handle db, preparing them again when
// the writer's connection changed (the old handle's statements are
// finalized: a connection closed meanwhile was kept as a zombie by
// sqlite3_close_v2 until then).
func (rw *rawWriter) use(db uintptr) error {
	if db == rw.db {
		return nil
	}
	rw.finalize()
	pst := libc.Xmalloc(rw.tls, 8)
	if pst == 0 {
		return fmt.Errorf("prepare: out of memory")
	}
	defer libc.Xfree(rw.tls, pst)
	for i, q := range rawSQL {
		cq, err := libc.CString(q)
		if err != nil {
			rw.finalize()
			return err
		}
		rc := sqlite3.Xsqlite3_prepare_v3(rw.tls, db, cq, -1, sqlite3.SQLITE_PREPARE_PERSISTENT, pst, 0)
		libc.Xfree(rw.tls, cq)
		if rc != sqlite3.SQLITE_OK {
			err := rw.errorOf(db, rc)
			rw.finalize()
			return fmt.Errorf("prepare: %w", err)
		}
		rw.stmts[i] = *(*uintptr)(unsafe.Add(nil, pst))
	}
	rw.db = db
	return nil
}

// errorOf returns the error SQLite holds on handle db after result rc.
func (rw *rawWriter) errorOf(db uintptr, rc int32) error {
	code := int(sqlite3.Xsqlite3_extended_errcode(rw.tls, db))
	if code == 0 {
		code = int(rc)
	}
	return &rawError{code: code, msg: libc.GoString(sqlite3.Xsqlite3_errmsg(rw.tls, db))}
}

// rawArg is one parameter: text s, blob b, integer i, or NULL.
type rawArg struct {
	kind uint8
	s    string
	b    []byte
	i    int64
}

const (
	argText uint8 = iota
	argBlob
	argInt
	argNull
)

func text(s string) rawArg   { return rawArg{kind: argText, s: s} }
func blob(b []byte) rawArg   { return rawArg{kind: argBlob, b: b} }
func integer(i int64) rawArg { return rawArg{kind: argInt, i: i} }

// nullable is integer(v.Int64), or NULL when v is not valid.
func nullable(v sql.NullInt64) rawArg {
	if !v.Valid {
		return rawArg{kind: argNull}
	}
	return integer(v.Int64)
}

// exec runs statement which (rawInsertEvent, ...) on handle db with args
// bound to ?1, ?2, ... in order, and returns sqlite3_changes.
func (rw *rawWriter) exec(db uintptr, which int, args ...rawArg) (int32, error) {
	if err := rw.use(db); err != nil {
		return 0, err
	}
	need := 1
	for i := range args {
		need += len(args[i].s) + len(args[i].b)
	}
	if err := rw.grow(need); err != nil {
		return 0, err
	}
	st, used := rw.stmts[which], uintptr(0)
	for i := range args {
		a, n := &args[i], int32(i+1)
		var src []byte
		switch a.kind {
		case argInt:
			sqlite3.Xsqlite3_bind_int64(rw.tls, st, n, a.i)
			continue
		case argNull:
			sqlite3.Xsqlite3_bind_null(rw.tls, st, n)
			continue
		case argText:
			src = unsafe.Slice(unsafe.StringData(a.s), len(a.s))
		default:
			src = a.b
		}
		p := rw.buf + used
		copy(unsafe.Slice((*byte)(unsafe.Add(nil, p)), len(src)), src)
		used += uintptr(len(src))
		// SQLITE_STATIC: buf stays as it is until the step below is done.
		// p is never NULL, so an empty value is '' or an empty BLOB.
		if a.kind == argText {
			sqlite3.Xsqlite3_bind_text(rw.tls, st, n, p, int32(len(src)), sqlite3.SQLITE_STATIC)
		} else {
			sqlite3.Xsqlite3_bind_blob(rw.tls, st, n, p, int32(len(src)), sqlite3.SQLITE_STATIC)
		}
	}
	rc := sqlite3.Xsqlite3_step(rw.tls, st)
	var err error
	if rc != sqlite3.SQLITE_DONE {
		err = rw.errorOf(db, rc)
	}
	sqlite3.Xsqlite3_reset(rw.tls, st)
	if err != nil {
		return 0, err
	}
	return sqlite3.Xsqlite3_changes(rw.tls, db), nil
}

// hotExec runs the hot statements of one write transaction (the events
// INSERT, the projection upserts, the rules' decisions): through raw on
// the transaction's connection, handle, when it has one, else through the
// transaction's prepared statement (database/sql). Each statement's
// arguments are written once, as rawArgs, for both.
type hotExec struct {
	ctx    context.Context
	raw    *rawWriter // nil: database/sql
	handle uintptr
}

// exec runs statement which, or stmt without a raw handle, with args.
func (h hotExec) exec(which int, stmt *sql.Stmt, args ...rawArg) error {
	if h.raw != nil {
		_, err := h.raw.exec(h.handle, which, args...)
		return err
	}
	_, err := stmt.ExecContext(h.ctx, values(args)...)
	return err
}

// insert runs the INSERT ... ON CONFLICT DO NOTHING which (or stmt) with
// args and returns the new row's rowid, 0 when a key conflicted. On the
// single writer connection the changes count says whether the row went
// in, and the last insert rowid is its id.
func (h hotExec) insert(which int, stmt *sql.Stmt, args ...rawArg) (int64, error) {
	if h.raw != nil {
		n, err := h.raw.exec(h.handle, which, args...)
		if err != nil || n == 0 {
			return 0, err
		}
		return sqlite3.Xsqlite3_last_insert_rowid(h.raw.tls, h.handle), nil
	}
	res, err := stmt.ExecContext(h.ctx, values(args)...)
	if err != nil {
		return 0, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return 0, err
	}
	return res.LastInsertId()
}

// values is args as database/sql takes them.
func values(args []rawArg) []any {
	vals := make([]any, len(args))
	for i, a := range args {
		switch a.kind {
		case argInt:
			vals[i] = a.i
		case argNull:
			vals[i] = nil
		case argBlob:
			vals[i] = a.b
		default:
			vals[i] = a.s
		}
	}
	return vals
}

// grow makes buf hold at least n bytes (and never 0 bytes, so an empty
// value still has a non-NULL address).
func (rw *rawWriter) grow(n int) error {
	if n <= rw.bufCap {
		return nil
	}
	c := max(4096, rw.bufCap)
	for c < n {
		c *= 2
	}
	p := libc.Xmalloc(rw.tls, libc.Tsize_t(c))
	if p == 0 {
		return fmt.Errorf("bind: out of memory for %d bytes", c)
	}
	libc.Xfree(rw.tls, rw.buf)
	rw.buf, rw.bufCap = p, c
	return nil
}

func (rw *rawWriter) finalize() {
	for i, st := range rw.stmts {
		if st != 0 {
			sqlite3.Xsqlite3_finalize(rw.tls, st)
		}
		rw.stmts[i] = 0
	}
	rw.db = 0
}

// close finalizes the statements (before the write connection closes) and
// frees the buffer.
func (rw *rawWriter) close() {
	if rw == nil {
		return
	}
	rw.finalize()
	libc.Xfree(rw.tls, rw.buf)
	rw.buf, rw.bufCap = 0, 0
	rw.tls.Close()
}
