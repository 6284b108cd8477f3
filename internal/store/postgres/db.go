// Package postgres is the PostgreSQL backend of store.Store, for running
// several receiver replicas on one database. Saves are grouped into one
// transaction per batch (backend.Batcher); projection updates apply the
// ordering rule inside the row upsert, so concurrent replicas never lose an
// update; enrichment jobs are leased with FOR UPDATE SKIP LOCKED.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/backend"
)

// DB is a store.Store on a PostgreSQL database. It is safe for concurrent use.
type DB struct {
	pool   *pgxpool.Pool
	opts   store.Options
	now    func() time.Time
	saver  saver
	closed atomic.Bool
	// feedWait bounds a change-feed read's wait (feedBound).
	feedWait time.Duration
	once     sync.Once
}

var _ store.Store = (*DB)(nil)

// saver is what Save hands events to: the group-commit batcher.
type saver interface {
	Save(ctx context.Context, e *store.Event) (store.Outcome, error)
	Close()
}

// maxCommitters is how many batch transactions one process runs at once
// (fewer when the pool is small, so reads always find a connection).
// PostgreSQL commits them in parallel; more rarely helps and costs
// connections. The Batcher starts a second one only while a full batch
// waits (backend.WithCommitters), so at moderate load one runs at a time.
const maxCommitters = 4

// defaultMaxConns is the pool size when the DSN sets no pool_max_conns
// (pgxpool's own default, the CPU count, starves reads on small machines).
const defaultMaxConns = 10

// defaultConnectTimeout bounds a connection attempt when the DSN sets none,
// so an unreachable server fails a call quickly instead of hanging it.
const defaultConnectTimeout = 5 * time.Second

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string; pool_max_conns and search_path are honoured), applies
// pending migrations under an advisory lock and returns the store.
func Open(ctx context.Context, dsn string, opts store.Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The DSN may hold a password: never echo it.
		return nil, errors.New("postgres: parse dsn: invalid connection string")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open pool: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	d := &DB{pool: pool, opts: opts, now: opts.Now, feedWait: defaultFeedWait}
	if d.now == nil {
		d.now = time.Now
	}
	if err := d.registerOutputs(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	committers := max(1, min(maxCommitters, int(cfg.MaxConns)/2))
	d.saver = backend.NewBatcher(d.commit, opts.MaxBatch, backend.WithCommitters(committers), backend.WithIsolate(isolatable),
		backend.WithCommitObserver(opts.ObserveCommit))
	return d, nil
}

// Save stores e in a shared transaction with other concurrent saves and
// returns once that transaction committed, or with an error when it did not.
func (d *DB) Save(ctx context.Context, e *store.Event) (store.Outcome, error) {
	if d.closed.Load() {
		return 0, store.ErrClosed
	}
	out, err := d.saver.Save(ctx, e)
	if err != nil {
		return 0, d.wrap("save", err)
	}
	return out, nil
}

// Ping reports whether the database answers (readiness).
func (d *DB) Ping(ctx context.Context) error {
	if d.closed.Load() {
		return store.ErrClosed
	}
	if err := d.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close flushes pending saves and closes the pool. Later calls return
// store.ErrClosed.
func (d *DB) Close() error {
	d.once.Do(func() {
		d.closed.Store(true) // new saves fail; those already queued still commit
		d.saver.Close()
		d.pool.Close()
	})
	return nil
}

// clock returns the store's current time in UTC, truncated to PostgreSQL's
// microsecond precision so values read back compare equal.
func (d *DB) clock() time.Time {
	return pgTime(d.now())
}

// pgTime converts t to what a TIMESTAMPTZ column returns.
func pgTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// wrap turns driver errors into the store's vocabulary.
func (d *DB) wrap(op string, err error) error {
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	case errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("postgres: %s: %w", op, err)
	case d.closed.Load():
		return fmt.Errorf("postgres: %s: %w", op, store.ErrClosed)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// check returns store.ErrClosed once Close was called.
func (d *DB) check() error {
	if d.closed.Load() {
		return store.ErrClosed
	}
	return nil
}
