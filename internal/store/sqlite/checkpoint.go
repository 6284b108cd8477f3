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
// PASSIVE checkpoints alone cannot bound the WAL under sustained writes:
// SQLite starts writing the log from its beginning again only when a
// checkpoint has copied every frame, and with a commit every millisecond
// there is always a newer frame (a minute at full load made a WAL of
// several GiB). So when the last passive checkpoint found more than
// walRestartFrames frames in the log, the writer itself runs a RESTART
// checkpoint before its next transaction: no commit can come between, the
// copy is short because the passive rounds already did most of it, and the
// log starts over. Readers can delay that (RESTART waits for them to leave
// the log) by at most walRestartWait; if they do, the next round tries again.
var (
	checkpointInterval = 250 * time.Millisecond
	walRestartFrames   = int64(4096) // 16 MiB with 4 KiB pages
)

const (
	// checkpointTimeout bounds one checkpoint.
	checkpointTimeout = 30 * time.Second
	walRestartWait    = 100 * time.Millisecond
)

// checkpointer runs PRAGMA wal_checkpoint(PASSIVE) after commits.
type checkpointer struct {
	db       *sql.DB // one connection, used only here
	interval time.Duration
	kick     chan struct{} // capacity 1: "a commit happened"
	stop     chan struct{}
	done     sync.WaitGroup

	logFrames atomic.Int64 // frames in the log at the last passive checkpoint
	restarts  atomic.Int64 // RESTART checkpoints the writer completed
}

func newCheckpointer(db *sql.DB, interval time.Duration) *checkpointer {
	c := &checkpointer{db: db, interval: interval, kick: make(chan struct{}, 1), stop: make(chan struct{})}
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
		// lock) loses nothing: the frames stay in the WAL for the next round.
		_ = c.checkpoint()
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

// restart runs a RESTART checkpoint on the writer's connection, between
// its transactions, waiting at most walRestartWait for readers. A failed or
// incomplete restart loses nothing; the next passive round asks again.
func (c *checkpointer) restart(ctx context.Context, write *sql.DB) {
	conn, err := write.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, walRestartWait.Milliseconds())); err != nil {
		return
	}
	defer conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, busyTimeout.Milliseconds()))
	var busy, logFrames, done int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(RESTART)`).Scan(&busy, &logFrames, &done); err != nil || busy != 0 {
		return
	}
	c.logFrames.Store(0)
	c.restarts.Add(1)
}

// close stops the goroutine and closes its connection; the last connection
// to close checkpoints what is left.
func (c *checkpointer) close() error {
	close(c.stop)
	c.done.Wait()
	return c.db.Close()
}
