package sqlite

// Storage failures (docs/powerloss.md).
//
// A failed fsync is fatal. On Linux the pages the kernel could not write
// are marked clean and stay in the page cache: every read still shows them,
// a later fsync of the file succeeds, and a power cut (or the cache evicting
// them) takes them away. For SQLite's log that leaves a hole that later
// frames sit behind: acknowledging a commit written after it, or
// checkpointing past it, would make durable data that recovery can never
// reach, or a database file newer than the log that recovery replays over
// it. So after the first failed fsync of the log or the database file the
// store writes nothing more: no commit, no checkpoint, no checkpoint when
// it closes; Save and Ping return store.ErrStorageFailed and
// Options.OnFatal hears it, so the process can exit and be restarted. The
// next Open makes the log durable again before SQLite reads it (repairWAL).
//
// A full disk (SQLITE_FULL, from ENOSPC) is not fatal: the failed
// transaction is rolled back and nothing is lost. Saves keep trying and
// answer 503 while they fail; Ping reports store.ErrDiskFull from the first
// failed commit until a commit succeeds or the file system reports free
// space again, so /readyz says why and turns ready by itself.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/prolific-receiver/receiver/internal/store"
)

// SQLite result codes that classify a failure.
const (
	sqliteFull          = 13        // SQLITE_FULL
	sqliteIOErrFsync    = 10 | 4<<8 // SQLITE_IOERR_FSYNC
	sqliteIOErrDirFsync = 10 | 5<<8 // SQLITE_IOERR_DIR_FSYNC
)

// diskFullFree is how much free space Ping wants to see before it calls a
// disk that was full usable again.
const diskFullFree = 64 << 20

// fail marks the store failed for good with cause (the first cause wins)
// and returns the error Saves get from now on.
func (db *DB) fail(cause error) error {
	db.failMu.Lock()
	first := db.failErr == nil
	if first {
		db.failErr = fmt.Errorf("%w: %v", store.ErrStorageFailed, cause)
	}
	err := db.failErr
	db.failMu.Unlock()
	if first && db.opts.OnFatal != nil {
		go db.opts.OnFatal(err)
	}
	return err
}

// failed returns the error that failed the store, or nil.
func (db *DB) failed() error {
	db.failMu.Lock()
	defer db.failMu.Unlock()
	return db.failErr
}

// classify looks at an error of a commit or a checkpoint: an fsync error
// fails the store, a full disk is noted (until a commit succeeds).
func (db *DB) classify(err error) error {
	if err == nil {
		return nil
	}
	var se resultCoder
	if errors.As(err, &se) {
		switch {
		case se.Code() == sqliteIOErrFsync || se.Code() == sqliteIOErrDirFsync:
			return db.fail(err)
		case se.Code()&0xff == sqliteFull:
			db.diskFull.Store(true)
			return fmt.Errorf("%w: %w", store.ErrDiskFull, err)
		}
	}
	return err
}

// pingStorage returns store.ErrStorageFailed after a failed fsync, and
// store.ErrDiskFull while the disk is full: from a failed commit until a
// commit succeeds or the directory's file system has diskFullFree bytes
// free again.
func (db *DB) pingStorage() error {
	if err := db.failed(); err != nil {
		return err
	}
	if !db.diskFull.Load() {
		return nil
	}
	if free, ok := freeSpace(filepath.Dir(db.path)); ok && free >= diskFullFree {
		db.diskFull.Store(false)
		return nil
	}
	return fmt.Errorf("%w: the last commit found no space left on the device holding %s", store.ErrDiskFull, filepath.Dir(db.path))
}

// repairWAL makes the log at path durable as the page cache shows it,
// before SQLite reads it: it rewrites every byte in place and fsyncs. After
// a failed fsync (this process's or a previous one's) the cache may hold log
// pages the disk never got; SQLite would recover the log from the cache and
// go on appending behind a hole a power cut would open. Rewriting is cheap
// (the log is at most a few tens of MiB) and harmless when nothing failed.
func repairWAL(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("repair log: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		if n > 0 {
			if _, werr := f.WriteAt(buf[:n], off); werr != nil {
				return fmt.Errorf("repair log: %w", werr)
			}
			off += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("repair log: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("repair log: %w: %w", store.ErrStorageFailed, err)
	}
	return nil
}
