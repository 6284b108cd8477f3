package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// The write connection runs with wal_autocheckpoint off: left on, every
// ~1,000th commit would copy the WAL back into the database file and fsync
// it before answering its batch, a latency spike on the hot path. A
// checkpointer goroutine on its own connection does that work instead,
// concurrently with the writer (PASSIVE mode never blocks it), at most once
// per checkpointInterval and only after commits.
const (
	checkpointInterval = 250 * time.Millisecond
	// checkpointTimeout bounds one checkpoint.
	checkpointTimeout = 30 * time.Second
)

// checkpointer runs PRAGMA wal_checkpoint(PASSIVE) after commits.
type checkpointer struct {
	db       *sql.DB // one connection, used only here
	interval time.Duration
	kick     chan struct{} // capacity 1: "a commit happened"
	stop     chan struct{}
	done     sync.WaitGroup
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
	return nil
}

// close stops the goroutine and closes its connection; the last connection
// to close checkpoints what is left.
func (c *checkpointer) close() error {
	close(c.stop)
	c.done.Wait()
	return c.db.Close()
}
