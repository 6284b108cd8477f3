package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// The write connection runs with wal_autocheckpoint off: left on, every
// ~1,000th commit would copy the WAL back into the database file and fsync
// it before answering its batch, a latency spike on the hot path. A
// checkpointer goroutine on its own connection does that work instead,
// concurrently with the writer (PASSIVE mode never blocks it), at most once
// per checkpointInterval and only after commits.
//
// Checkpoints on another connection alone cannot bound the WAL under
// sustained writes: SQLite starts writing the log from its beginning again
// only when a checkpoint has copied every frame, and with a commit every
// millisecond there is always a newer frame (8 s at full load made a WAL of
// 1 GiB). So when the last passive round found more than walRestartFrames
// frames in the log, the writer itself checkpoints before its next
// transaction (restart).
//
// A log that grew past walSizeLimit while it could not restart (a reader
// holding an old snapshot through a burst, or one huge batch) is cut back
// to that size by the writer's first commit after the next restart
// (journal_size_limit), instead of keeping its high-water size on disk.
var (
	checkpointInterval = 250 * time.Millisecond
	walRestartFrames   = int64(4096)     // 16 MiB with 4 KiB pages
	walSizeLimit       = int64(64 << 20) // bytes
)

// checkpointTimeout bounds one checkpoint.
const checkpointTimeout = 30 * time.Second

// checkpointer runs PRAGMA wal_checkpoint(PASSIVE) after commits.
type checkpointer struct {
	db       *sql.DB // one connection, used only here
	interval time.Duration
	kick     chan struct{} // capacity 1: "a commit happened"
	stop     chan struct{}
	stopOnce sync.Once
	done     sync.WaitGroup

	logFrames atomic.Int64 // frames in the log at the last passive checkpoint
	restarts  atomic.Int64 // writer checkpoints that copied the whole log

	// healthy says whether the store may still checkpoint; onError hears
	// a checkpoint's error. Set before the first commit.
	healthy func() bool
	onError func(error)
}

func newCheckpointer(db *sql.DB, interval time.Duration, healthy func() bool, onError func(error)) *checkpointer {
	c := &checkpointer{db: db, interval: interval, kick: make(chan struct{}, 1), stop: make(chan struct{}),
		healthy: healthy, onError: onError}
	c.done.Add(1)
	go c.run()
	return c
}

// committed tells the checkpointer the WAL grew; it never blocks.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer c.done.Done()
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		}
		// A failed checkpoint (a reader holding an old snapshot, a busy
		// lock, a full disk) loses nothing: the frames stay in the WAL for
		// the next round. A failed fsync fails the store (failure.go), and
		// a failed store checkpoints no more.
		if c.healthy == nil || c.healthy() {
			if err := c.checkpoint(); err != nil && c.onError != nil {
				c.onError(err)
			}
		}
		// Pace: commits during the pause are picked up by the next round.
		t.Reset(c.interval)
		select {
		case <-t.C:
		case <-c.stop:
			return
		}
	}
}

func (c *checkpointer) checkpoint() error {
	ctx, cancel := context.WithTimeout(context.Background(), checkpointTimeout)
	defer cancel()
	var busy, logFrames, done int
	if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("wal checkpoint: %w", err)
	}
	c.logFrames.Store(int64(logFrames))
	return nil
}

// restartDue reports whether the writer should restart the log.
func (c *checkpointer) restartDue() bool { return c.logFrames.Load() > walRestartFrames }

// restart runs a PASSIVE checkpoint on the writer's connection, between
// its transactions. With no commit able to come between, it copies every
// frame no reader still needs (the background rounds did most of that
// already), and the writer's next transaction starts the log over unless a
// reader is inside it at that moment. It never waits: PASSIVE does not call
// the busy handler, so a long reader costs a skipped restart, not a stalled
// writer. Whatever the result, the next restart waits for the next passive
// round to find the log long again.
func (c *checkpointer) restart(ctx context.Context, write *sql.DB) error {
	defer c.logFrames.Store(0)
	var busy, logFrames, done int
	if err := write.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done); err != nil {
		return err
	}
	if busy == 0 && done == logFrames {
		c.restarts.Add(1)
	}
	return nil
}

// close stops the goroutine and closes its connection; the last connection
// to close checkpoints what is left.
func (c *checkpointer) close() error {
	c.stopRunning()
	return c.db.Close()
}

// stopRunning stops the goroutine, leaving the connection open.
func (c *checkpointer) stopRunning() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.done.Wait()
}
