// Command sqlitedrivers measures the CPU time one stored event costs in
// SQLite through each of three Go drivers, on the receiver's own schema
// (internal/store/sqlite/migrations) and its statements for an event and its
// submission's projection, in transactions of -batch events (group commit).
// synchronous=OFF keeps the disk out: the number is the CPU the driver and
// SQLite spend, which is what the driver choice changes. It is a separate
// module so the drivers it compares stay out of the receiver's go.mod.
//
// mattn/go-sqlite3 and ncruces/go-sqlite3 both register as "sqlite3", so
// each driver is built into its own binary (build tags mattn, ncruces; none
// for modernc) and run.sh runs them in interleaved rounds.
//
// Usage: run.sh [rounds], or go run [-tags mattn|ncruces] . -events 100000 -batch 64
package main

import (
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// The receiver's statements (internal/store/sqlite/save.go), reduced to the
// parts a submission event runs: the event row and the submission upsert.
const (
	insertEvent = `INSERT OR FAIL INTO events
		(id, type, resource_id, status, participant_id, study_id, event_time, received_at, signature_form, content_hash, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`
	upsertSubmission = `INSERT OR FAIL INTO submissions
		(id, study_id, participant_id, status, status_rank, status_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
		status = CASE WHEN excluded.status_at > submissions.status_at THEN excluded.status ELSE submissions.status END,
		status_rank = excluded.status_rank, status_at = excluded.status_at, updated_at = excluded.updated_at`
)

func main() {
	events := flag.Int("events", 100000, "events to store per driver and round")
	batch := flag.Int("batch", 64, "events per transaction")
	migrations := flag.String("migrations", "../../internal/store/sqlite/migrations", "the receiver's migrations")
	flag.BoolVar(&multiRow, "multi", false, "insert each transaction's events with one multi-row INSERT ... RETURNING instead of one INSERT each")
	flag.Parse()
	us, err := run(*events, *batch, *migrations)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", driverLabel, err)
		os.Exit(1)
	}
	label := driverLabel
	if multiRow {
		label += "-multi"
	}
	fmt.Printf("%s %.1f\n", label, us)
}

var multiRow bool

// multiInsert returns insertEvent for n rows, returning what was stored.
func multiInsert(n int) string {
	head, _, _ := strings.Cut(insertEvent, "VALUES")
	var b strings.Builder
	b.WriteString(head)
	b.WriteString("VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(" ON CONFLICT DO NOTHING RETURNING seq, id")
	return b.String()
}

func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(n, batch int, migrations string) (float64, error) {
	dir, err := os.MkdirTemp("", "sqlitedrivers")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	db, err := openDB(filepath.Join(dir, "bench.db"), migrations)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	ins, err := db.Prepare(insertEvent)
	if err != nil {
		return 0, err
	}
	up, err := db.Prepare(upsertSubmission)
	if err != nil {
		return 0, err
	}
	// The events' values, built before the clock starts.
	base := time.Now().UnixMicro()
	rows := makeRows(n, base)
	// One INSERT of a whole transaction's rows, by row count, prepared
	// before the clock starts (the one connection is the transaction's).
	multi := map[int]*sql.Stmt{}
	if multiRow {
		for _, k := range []int{batch, n % batch} {
			if k == 0 || multi[k] != nil {
				continue
			}
			if multi[k], err = db.Prepare(multiInsert(k)); err != nil {
				return 0, err
			}
		}
	}
	args := make([]any, 0, 11*batch)
	start := cpu()
	for i := 0; i < n; {
		tx, err := db.Begin()
		if err != nil {
			return 0, err
		}
		ti, tu := tx.Stmt(ins), tx.Stmt(up)
		end := min(i+batch, n)
		if multiRow {
			args = args[:0]
			for _, r := range rows[i:end] {
				args = append(args, r.id, "submission.status.change", r.sub, "ACTIVE", r.part, "", r.at, r.at, "raw", r.hash, r.body)
			}
			if err := insertAll(tx.Stmt(multi[end-i]), args, end-i); err != nil {
				return 0, err
			}
		}
		for _, r := range rows[i:end] {
			if !multiRow {
				if _, err := ti.Exec(r.id, "submission.status.change", r.sub, "ACTIVE", r.part, "", r.at, r.at,
					"raw", r.hash, r.body); err != nil {
					return 0, err
				}
			}
			if _, err := tu.Exec(r.sub, "", r.part, "ACTIVE", 2, r.at, base); err != nil {
				return 0, err
			}
		}
		i = end
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	return float64((cpu() - start).Microseconds()) / float64(n), nil
}

// openDB opens the database at path on one connection, as the receiver
// sets it up, with the migrations in the folder migrations applied.
func openDB(path, migrations string) (*sql.DB, error) {
	db, err := sql.Open(driverName, path)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*sql.DB, error) { db.Close(); return nil, err }
	db.SetMaxOpenConns(1)
	for _, p := range []string{"PRAGMA journal_mode=WAL", "PRAGMA synchronous=OFF", "PRAGMA foreign_keys=ON", "PRAGMA wal_autocheckpoint=0"} {
		if _, err := db.Exec(p); err != nil {
			return fail(fmt.Errorf("%s: %w", p, err))
		}
	}
	files, _ := filepath.Glob(filepath.Join(migrations, "*.sql"))
	sort.Strings(files)
	if len(files) == 0 {
		return fail(fmt.Errorf("no migrations in %s", migrations))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fail(err)
		}
		if _, err := db.Exec(string(b)); err != nil {
			return fail(fmt.Errorf("%s: %w", filepath.Base(f), err))
		}
	}
	return db, nil
}

// row is one event's values.
type row struct {
	id, sub, part, hash string
	at                  int64
	body                []byte
}

// makeRows builds n events, four to a submission, timed from base.
func makeRows(n int, base int64) []row {
	id := func(i int, kind byte) string {
		var b [12]byte
		b[0] = kind
		for k := 0; k < 8; k++ {
			b[4+k] = byte(i >> (8 * k))
		}
		return hex.EncodeToString(b[:])
	}
	rows := make([]row, n)
	for i := range rows {
		sub, part := id(i/4, 's'), id(i/4, 'p')
		rows[i] = row{id: id(i, 'e'), sub: sub, part: part, hash: id(i, 'h') + id(i, 'h') + id(i, 'h')[:16], at: base + int64(i),
			body: fmt.Appendf(nil, `{"resource_id": "%s", "event_type": "submission.status.change", "participant_id": "%s", "status": "ACTIVE"}`, sub, part)}
	}
	return rows
}

// insertAll runs the multi-row INSERT stmt with args and checks that it
// stored want rows.
func insertAll(stmt *sql.Stmt, args []any, want int) error {
	rs, err := stmt.Query(args...)
	if err != nil {
		return err
	}
	got := 0
	for rs.Next() {
		var seq int64
		var eid string
		if err := rs.Scan(&seq, &eid); err != nil {
			return err
		}
		got++
	}
	if err := rs.Err(); err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("multi-row insert stored %d of %d", got, want)
	}
	return nil
}
