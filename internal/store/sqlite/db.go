// Package sqlite is the embedded store backend: one SQLite file in WAL mode
// with synchronous=FULL, written by a single connection that commits
// concurrent Saves in groups (backend.Batcher), and read through a separate pool.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/backend"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// busyTimeout is how long a connection waits for a lock held by another
// process (for example a backup) before failing.
const busyTimeout = 5 * time.Second

// DB is a store.Store backed by one SQLite file.
type DB struct {
	path  string
	opts  store.Options
	write *sql.DB // exactly one connection: the only writer
	read  *sql.DB // query_only pool
	batch *backend.Batcher
	stmts *statements
	rules *ruleStatements // the rules engine's and the change feed's (rules_stmts.go)
	ins   *rawWriter      // the hot statements without database/sql (rawwrite.go)
	ckpt  *checkpointer
	owner *owner // this process's claim on the file
	walID fileID // the writer's log, when its syncs are deferred (zero: not)

	recent   recentFeed   // the newest stored events, for Feed (feedmem.go)
	keysDone atomic.Int64 // event_keys_done.seq as the writer left it (eventkeys.go)

	// mayHaveAliases is false while event_aliases has never held a row since
	// the file was opened empty of them, so a batch need not look its IDs up
	// there. Only this process writes the file (owner), the writer sets it
	// before inserting an alias, and nothing clears it (a pruned alias leaves
	// it set, which only costs the look-up).
	mayHaveAliases atomic.Bool

	// Storage failures (failure.go): failErr, once set, fails every later
	// Save and Ping; diskFull is set by a commit that found no space.
	failMu   sync.Mutex
	failErr  error
	diskFull atomic.Bool

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed, parent directory included) the database at
// path, applies pending migrations and starts the group committer.
func Open(path string, opts store.Options) (*DB, error) {
	return OpenContext(context.Background(), path, opts)
}

// OpenContext is Open, giving up with ctx's error if ctx ends while it waits
// for another process to let go of the file.
func OpenContext(ctx context.Context, path string, opts store.Options) (*DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite: invalid path %q", path)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open sqlite: create directory: %w", err)
		}
	}
	own, err := claim(ctx, path, opts.OnWait)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := repairWAL(path + "-wal"); err != nil {
		own.release()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	common := url.Values{}
	common.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	common.Set("_foreign_keys", "1")
	common.Set("_synchronous", "FULL")

	w := url.Values{}
	for k, v := range common {
		w[k] = v
	}
	w.Set("_journal_mode", "WAL")
	w.Set("_txlock", "immediate")
	w.Add("_pragma", "wal_autocheckpoint=0") // the checkpointer does it off the hot path
	w.Add("_pragma", fmt.Sprintf("journal_size_limit=%d", walSizeLimit))
	// A statement that changes many rows (the rules' finishes, a claim)
	// keeps a statement journal to undo itself; past 64 KiB SQLite spills it
	// to a temporary file it opens and writes. It only ever undoes one
	// statement inside its transaction, never a crash: memory will do.
	w.Add("_pragma", "temp_store=MEMORY")
	if gatherWAL {
		// Only the writer writes the log; it commits with synchronous=FULL,
		// so every commit syncs the WAL, which is when the VFS writes.
		if err := registerWALVFS(); err != nil {
			own.release()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		w.Set("vfs", walVFSName)
	}
	write, err := sql.Open("sqlite", path+"?"+w.Encode())
	if err != nil {
		own.release()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	db := &DB{path: path, opts: opts, write: write, owner: own}
	if err := db.init(ctx, common); err != nil {
		write.Close()
		if db.read != nil {
			db.read.Close()
		}
		own.release()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	batchOpts := []backend.BatcherOption{backend.WithIsolate(isolatable), backend.WithCommitObserver(opts.ObserveCommit)}
	if id, ok := statID(path + "-wal"); ok && gatherWAL && walFileFor(id) != nil && syncDir(filepath.Dir(path)) == nil {
		// The writer's log is synced apart from its commits (see commitTx).
		// SQLite syncs the directory of a log it created at the log's first
		// sync, which may now be deferred: the directory was synced above.
		db.walID = id
		batchOpts = append(batchOpts, backend.WithDurable(db.durable))
	}
	db.batch = backend.NewBatcher(db.commit, opts.MaxBatch, batchOpts...)
	return db, nil
}

func (db *DB) init(ctx context.Context, common url.Values) error {
	// Each wait is bounded (openWait), the migrations are not: one takes
	// what the file's size needs (migrate.go).
	wctx, cancel := context.WithTimeout(ctx, openWait)
	defer cancel()
	if err := db.write.PingContext(wctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	var mode string
	if err := db.write.QueryRowContext(wctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	var level int
	if err := db.write.QueryRowContext(wctx, `PRAGMA synchronous`).Scan(&level); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if level < 2 {
		// The WAL-gathering VFS writes at the sync of each commit.
		return fmt.Errorf("synchronous is %d, want FULL (2)", level)
	}
	if err := migrate(ctx, db.write, micros(db.opts.Now()), db.opts.OnWait); err != nil {
		return err
	}
	wctx, cancel = context.WithTimeout(ctx, openWait) // bounded again after them
	defer cancel()
	if err := db.registerOutputs(wctx); err != nil {
		return err
	}
	if err := db.loadKeysDone(wctx); err != nil {
		return err
	}
	common.Set("_query_only", "1")
	read, err := sql.Open("sqlite", db.path+"?"+common.Encode())
	if err != nil {
		return fmt.Errorf("open read pool: %w", err)
	}
	db.read = read
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	if err := read.PingContext(wctx); err != nil {
		return fmt.Errorf("connect read pool: %w", err)
	}
	if db.stmts, err = prepare(wctx, db.write); err != nil {
		return err
	}
	if db.rules, err = prepareRules(wctx, db.write, db.read); err != nil {
		return err
	}
	db.ins = newRawWriter()
	if err := db.loadAliases(wctx); err != nil {
		return err
	}
	ck, err := sql.Open("sqlite", db.path+"?"+checkpointDSN(common))
	if err != nil {
		return fmt.Errorf("open checkpoint connection: %w", err)
	}
	ck.SetMaxOpenConns(1)
	ck.SetMaxIdleConns(1)
	ck.SetConnMaxIdleTime(0)
	if err := ck.PingContext(wctx); err != nil {
		ck.Close()
		return fmt.Errorf("connect checkpoint connection: %w", err)
	}
	db.ckpt = newCheckpointer(ck, checkpointInterval, func() bool { return db.failed() == nil },
		func(err error) { db.classify(err) })
	return nil
}

// checkpointDSN is the checkpoint connection's parameters: the common ones
// without query_only (a checkpoint writes the database file).
func checkpointDSN(common url.Values) string {
	c := url.Values{}
	for k, v := range common {
		if k != "_query_only" {
			c[k] = v
		}
	}
	return c.Encode()
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Save stores e (see store.Store). Concurrent calls share one transaction.
// Save fills e.Seq for a stored event and e.StudyID when the submission's
// study is known.
func (db *DB) Save(ctx context.Context, e *store.Event) (store.Outcome, error) {
	if db.closed.Load() {
		return 0, store.ErrClosed
	}
	o, err := db.batch.Save(ctx, e)
	if err != nil {
		return 0, db.wrap("save event", err)
	}
	return o, nil
}

// Ping checks that both the writer and the read pool can reach the file.
func (db *DB) Ping(ctx context.Context) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	if err := db.read.PingContext(ctx); err != nil {
		return db.wrap("ping", err)
	}
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return db.wrap("ping", err)
	}
	if err := db.write.PingContext(ctx); err != nil {
		return db.wrap("ping", err)
	}
	if w := db.wal(); w != nil {
		if err := w.syncFailed(); err != nil {
			return db.wrap("ping", db.fail(err))
		}
	}
	if err := db.pingStorage(); err != nil {
		return db.wrap("ping", err)
	}
	return nil
}

// whileHealthy runs f unless the store has failed, with no fsync of the
// writer's log running meanwhile (wal may be nil).
func (db *DB) whileHealthy(wal *walFile, f func()) {
	if wal != nil {
		wal.gate.Lock()
		defer wal.gate.Unlock()
		if wal.syncFailed() != nil {
			return
		}
	}
	if db.failed() == nil {
		f()
	}
}

// wal returns the writer's open log file when its syncs are deferred.
func (db *DB) wal() *walFile {
	if db.walID == (fileID{}) {
		return nil
	}
	return walFileFor(db.walID)
}

// commitTx commits tx, the writer's batch transaction. With wal (the
// writer's log, when it can be synced apart) the commit writes the log but
// leaves its fsync to durable's wait, which the Batcher runs before it
// answers the batch's callers while the writer commits the next batch: a
// commit's fsync overlaps the next one's work instead of holding up the
// only writer. SQLite then sees the log synced at every commit, as with
// synchronous=FULL, but only the callers wait for the disk; readers may see
// a batch a moment before it is durable (never acknowledged before).
func commitTx(tx *sql.Tx, wal *walFile) error {
	if wal != nil {
		wal.deferSync.Store(true)
		defer wal.deferSync.Store(false)
	}
	return tx.Commit()
}

// durable gives the wait for the commit that just returned (see commitTx).
func (db *DB) durable() func() error {
	w := db.wal()
	if w == nil {
		return func() error { return nil } // synced at the commit
	}
	ticket := w.written.Load()
	return func() error {
		if err := w.syncTo(ticket); err != nil {
			return db.fail(err)
		}
		return nil
	}
}

// Close commits pending Saves, then closes the database. Later calls return
// store.ErrClosed.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.closed.Store(true)
		db.batch.Close()
		if err := db.failed(); err != nil {
			// No checkpoint (SQLite runs one when its last connection
			// closes): it could copy frames from behind a hole in the log
			// into the database file. The connections stay open until the
			// process exits; the next Open repairs the log.
			db.ckpt.stopRunning()
			db.closeErr = fmt.Errorf("close sqlite: left without a checkpoint: %w", errors.Join(err, db.owner.release()))
			return
		}
		cerr := db.ckpt.close()
		db.stmts.close()
		db.rules.close()
		db.ins.close()
		rerr := db.read.Close()
		werr := db.write.Close()
		oerr := db.owner.release() // last: the file is free once nothing here writes it
		if err := errors.Join(werr, rerr, cerr, oerr); err != nil {
			db.closeErr = fmt.Errorf("close sqlite: %w", err)
		}
	})
	return db.closeErr
}

// wrap adds op to err and turns errors caused by a closed store into
// store.ErrClosed.
func (db *DB) wrap(op string, err error) error {
	if errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if db.closed.Load() || errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("%s: %w (%v)", op, store.ErrClosed, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// micros converts t to the stored form: unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros is micros, with NULL for the zero time.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// fromMicros converts a stored time back, in UTC.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// fromNullMicros is fromMicros with the zero time for NULL.
func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}
