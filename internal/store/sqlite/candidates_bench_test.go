package sqlite

import (
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// BenchmarkWritePathCandidates measures two of the write path's design
// candidates (bench/profiling.md, "Tenth look") against today's on the
// statements a submission event runs (the event row with its indexes and
// the submission upsert), 64 events per transaction, synchronous=OFF so
// that only CPU counts, IDs that are rising ObjectIds. The sub-benchmarks
// run in turn, so -count=N interleaves them; compare with benchstat.
//
//   - today: database/sql and the driver, IDs as 24-character hex TEXT, the
//     content hash as "<timestamp>.<64 hex>" TEXT;
//   - raw: the same schema, bound and stepped through modernc's library
//     directly on the connection (no database/sql, no driver), values
//     copied into one reused C buffer;
//   - blob: database/sql, IDs as 12-byte BLOBs and the content hash as 32
//     raw bytes (8 bytes of timestamp, big-endian, so the index still grows
//     at its end, then 24 bytes of the digest);
//   - raw+blob: both.
func BenchmarkWritePathCandidates(b *testing.B) {
	for _, c := range []struct {
		name      string
		raw, blob bool
	}{{"today", false, false}, {"raw", true, false}, {"blob", false, true}, {"raw+blob", true, true}} {
		b.Run(c.name, func(b *testing.B) { benchCandidate(b, c.raw, c.blob) })
	}
}

const candidateBatch = 64

func candidateSchema(blob bool) []string {
	idType := "TEXT"
	if blob {
		idType = "BLOB"
	}
	return []string{
		`PRAGMA journal_mode=WAL`, `PRAGMA synchronous=OFF`, `PRAGMA wal_autocheckpoint=0`,
		fmt.Sprintf(`CREATE TABLE events (
			seq INTEGER PRIMARY KEY AUTOINCREMENT, id %[1]s NOT NULL UNIQUE, type TEXT NOT NULL,
			resource_id %[1]s NOT NULL, status TEXT NOT NULL DEFAULT '', participant_id %[1]s NOT NULL DEFAULT '',
			study_id %[1]s NOT NULL DEFAULT '', event_time INTEGER NOT NULL, received_at INTEGER NOT NULL,
			signature_form TEXT NOT NULL DEFAULT '', content_hash %[1]s NOT NULL UNIQUE, body BLOB NOT NULL,
			source TEXT NOT NULL DEFAULT 'webhook')`, idType),
		`CREATE INDEX events_type_seq ON events (type, seq)`,
		`CREATE INDEX events_resource_seq ON events (resource_id, seq)`,
		`CREATE INDEX events_study_seq ON events (study_id, seq)`,
		`CREATE INDEX events_received_at ON events (received_at)`,
		fmt.Sprintf(`CREATE TABLE submissions (id %[1]s PRIMARY KEY, study_id %[1]s NOT NULL DEFAULT '',
			participant_id %[1]s NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT '', status_rank INTEGER NOT NULL DEFAULT 0,
			status_at INTEGER, updated_at INTEGER NOT NULL)`, idType),
		`CREATE INDEX submissions_study_status_at ON submissions (study_id, status_at)`,
	}
}

const (
	candInsertEvent = `INSERT OR FAIL INTO events
		(id, type, resource_id, status, participant_id, study_id, event_time, received_at, signature_form, content_hash, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
	candUpsertSubmission = `INSERT OR FAIL INTO submissions
		(id, study_id, participant_id, status, status_rank, status_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
		status = CASE WHEN excluded.status_at > submissions.status_at THEN excluded.status ELSE submissions.status END,
		status_rank = excluded.status_rank, status_at = excluded.status_at, updated_at = excluded.updated_at`
)

// candRow is one event's values in both forms.
type candRow struct {
	id, sub, part, study, hash []byte // the BLOB form
	idHex, subHex, partHex     string // the TEXT form
	studyHex, hashText         string
	at                         int64
	body                       []byte
}

func candRows(n int) []candRow {
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	oid := func(t time.Time, kind byte, i int) []byte {
		b := make([]byte, 12)
		binary.BigEndian.PutUint32(b, uint32(t.Unix()))
		b[4] = kind
		binary.BigEndian.PutUint32(b[8:], uint32(i))
		return b
	}
	rows := make([]candRow, n)
	for i := range rows {
		at := base.Add(time.Duration(i) * time.Millisecond)
		r := &rows[i]
		r.id = oid(at, 'e', i)
		subAt := base.Add(time.Duration(i/3*3) * time.Millisecond) // three events per submission
		r.sub, r.part, r.study = oid(subAt, 's', i/3), oid(subAt, 'p', i/3), oid(base, 't', i%50)
		r.idHex, r.subHex, r.partHex, r.studyHex = hex.EncodeToString(r.id), hex.EncodeToString(r.sub), hex.EncodeToString(r.part), hex.EncodeToString(r.study)
		r.body = fmt.Appendf(nil, `{"resource_id": "%s", "event_type": "submission.status.change", "participant_id": "%s", "status": "AWAITING REVIEW", "study_id": "%s"}`,
			r.subHex, r.partHex, r.studyHex)
		sum := sha256.Sum256(append([]byte(fmt.Sprint(at.Unix())), r.body...))
		r.hashText = fmt.Sprintf("%d.%s", at.Unix(), hex.EncodeToString(sum[:]))
		r.hash = make([]byte, 32)
		binary.BigEndian.PutUint64(r.hash, uint64(at.UnixMicro()))
		copy(r.hash[8:], sum[:24])
		r.at = at.UnixMicro()
	}
	return rows
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchCandidate(b *testing.B, raw, blob bool) {
	path := filepath.Join(b.TempDir(), "c.db")
	rows := candRows(b.N)
	b.ReportAllocs()
	var run func() error
	if raw {
		c, err := openRawCand(path, blob)
		if err != nil {
			b.Fatal(err)
		}
		defer c.close()
		run = func() error { return c.insert(rows) }
	} else {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		for _, q := range candidateSchema(blob) {
			if _, err := db.Exec(q); err != nil {
				b.Fatal(q, err)
			}
		}
		ins, err := db.Prepare(candInsertEvent)
		if err != nil {
			b.Fatal(err)
		}
		up, err := db.Prepare(candUpsertSubmission)
		if err != nil {
			b.Fatal(err)
		}
		run = func() error {
			for i := 0; i < len(rows); {
				tx, err := db.Begin()
				if err != nil {
					return err
				}
				ti, tu := tx.Stmt(ins), tx.Stmt(up)
				for end := min(i+candidateBatch, len(rows)); i < end; i++ {
					r := &rows[i]
					var err error
					if blob {
						_, err = ti.Exec(r.id, "submission.status.change", r.sub, "AWAITING REVIEW", r.part, r.study, r.at, r.at, "python", r.hash, r.body)
						if err == nil {
							_, err = tu.Exec(r.sub, r.study, r.part, "AWAITING REVIEW", 3, r.at, r.at)
						}
					} else {
						_, err = ti.Exec(r.idHex, "submission.status.change", r.subHex, "AWAITING REVIEW", r.partHex, r.studyHex, r.at, r.at, "python", r.hashText, r.body)
						if err == nil {
							_, err = tu.Exec(r.subHex, r.studyHex, r.partHex, "AWAITING REVIEW", 3, r.at, r.at)
						}
					}
					if err != nil {
						tx.Rollback()
						return err
					}
				}
				if err := tx.Commit(); err != nil {
					return err
				}
			}
			return nil
		}
	}
	b.ResetTimer()
	start := cpuNow()
	if err := run(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuNow()-start).Microseconds())/float64(b.N), "cpu-us/event")
}

// rawCand is a connection driven through modernc's library directly.
type rawCand struct {
	tls       *libc.TLS
	db        uintptr
	ins, up   uintptr
	begin, co uintptr
	buf       uintptr // scratch for bound values
	bufCap    int
	blob      bool
}

func openRawCand(path string, blob bool) (*rawCand, error) {
	c := &rawCand{tls: libc.NewTLS(), blob: blob}
	cpath, err := libc.CString(path)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, cpath)
	pdb := libc.Xmalloc(c.tls, 8)
	defer libc.Xfree(c.tls, pdb)
	if rc := sqlite3.Xsqlite3_open_v2(c.tls, cpath, pdb, sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_CREATE, 0); rc != sqlite3.SQLITE_OK {
		return nil, fmt.Errorf("open: %d", rc)
	}
	c.db = *(*uintptr)(unsafe.Add(nil, pdb))
	for _, q := range candidateSchema(blob) {
		if err := c.exec(q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	for _, p := range []struct {
		q   string
		out *uintptr
	}{{candInsertEvent, &c.ins}, {candUpsertSubmission, &c.up}, {"BEGIN IMMEDIATE", &c.begin}, {"COMMIT", &c.co}} {
		if *p.out, err = c.prepare(p.q); err != nil {
			return nil, err
		}
	}
	c.bufCap = 64 << 10
	c.buf = libc.Xmalloc(c.tls, libc.Tsize_t(c.bufCap))
	return c, nil
}

func (c *rawCand) exec(q string) error {
	cq, err := libc.CString(q)
	if err != nil {
		return err
	}
	defer libc.Xfree(c.tls, cq)
	if rc := sqlite3.Xsqlite3_exec(c.tls, c.db, cq, 0, 0, 0); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("exec: %d", rc)
	}
	return nil
}

func (c *rawCand) prepare(q string) (uintptr, error) {
	cq, err := libc.CString(q)
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(c.tls, cq)
	pst := libc.Xmalloc(c.tls, 8)
	defer libc.Xfree(c.tls, pst)
	if rc := sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, cq, -1, pst, 0); rc != sqlite3.SQLITE_OK {
		return 0, fmt.Errorf("prepare %q: %d", q, rc)
	}
	return *(*uintptr)(unsafe.Add(nil, pst)), nil
}

// binder copies values into the scratch buffer and binds them in place
// (SQLITE_STATIC: the buffer outlives the step).
type binder struct {
	c    *rawCand
	st   uintptr
	used int
}

func (bd *binder) put(b []byte) uintptr {
	p := bd.c.buf + uintptr(bd.used)
	if len(b) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Add(nil, p)), len(b)), b)
	}
	bd.used += len(b)
	return p
}

func (bd *binder) text(i int32, s string) {
	p := bd.put(unsafe.Slice(unsafe.StringData(s), len(s)))
	sqlite3.Xsqlite3_bind_text(bd.c.tls, bd.st, i, p, int32(len(s)), sqlite3.SQLITE_STATIC)
}

func (bd *binder) blob(i int32, b []byte) {
	p := bd.put(b)
	sqlite3.Xsqlite3_bind_blob(bd.c.tls, bd.st, i, p, int32(len(b)), sqlite3.SQLITE_STATIC)
}

func (bd *binder) int(i int32, v int64) { sqlite3.Xsqlite3_bind_int64(bd.c.tls, bd.st, i, v) }

func (c *rawCand) step(st uintptr) error {
	rc := sqlite3.Xsqlite3_step(c.tls, st)
	sqlite3.Xsqlite3_reset(c.tls, st)
	if rc != sqlite3.SQLITE_DONE {
		return fmt.Errorf("step: %d", rc)
	}
	return nil
}

func (c *rawCand) insert(rows []candRow) error {
	for i := 0; i < len(rows); {
		if err := c.step(c.begin); err != nil {
			return err
		}
		for end := min(i+candidateBatch, len(rows)); i < end; i++ {
			r := &rows[i]
			bd := &binder{c: c, st: c.ins}
			id := func(k int32, raw []byte, hexs string) {
				if c.blob {
					bd.blob(k, raw)
				} else {
					bd.text(k, hexs)
				}
			}
			id(1, r.id, r.idHex)
			bd.text(2, "submission.status.change")
			id(3, r.sub, r.subHex)
			bd.text(4, "AWAITING REVIEW")
			id(5, r.part, r.partHex)
			id(6, r.study, r.studyHex)
			bd.int(7, r.at)
			bd.int(8, r.at)
			bd.text(9, "python")
			id(10, r.hash, r.hashText)
			bd.blob(11, r.body)
			if err := c.step(c.ins); err != nil {
				return err
			}
			bd = &binder{c: c, st: c.up}
			id(1, r.sub, r.subHex)
			id(2, r.study, r.studyHex)
			id(3, r.part, r.partHex)
			bd.text(4, "AWAITING REVIEW")
			bd.int(5, 3)
			bd.int(6, r.at)
			bd.int(7, r.at)
			if err := c.step(c.up); err != nil {
				return err
			}
		}
		if err := c.step(c.co); err != nil {
			return err
		}
	}
	return nil
}

func (c *rawCand) close() {
	for _, st := range []uintptr{c.ins, c.up, c.begin, c.co} {
		sqlite3.Xsqlite3_finalize(c.tls, st)
	}
	sqlite3.Xsqlite3_close_v2(c.tls, c.db)
	libc.Xfree(c.tls, c.buf)
	c.tls.Close()
}
