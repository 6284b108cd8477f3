package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prolific-receiver/receiver/internal/ctxwait"
)

// ErrInUse means another process has the database file open as its store.
// SQLite takes one receiver per file: replicas share PostgreSQL instead.
var ErrInUse = errors.New("in use by another receiver")

// ownerWait is how long Open waits for another process to let go of the
// file (a receiver still shutting down) before it gives up.
var ownerWait = 10 * time.Second

// ownerPoll is how often Open tries again meanwhile.
const ownerPoll = 100 * time.Millisecond

// owner is the lock file that marks a database file as one receiver's:
// path + "-receiver.lock", exclusively locked (flock) for as long as the
// store is open. The kernel drops the lock when the process dies, however
// it dies, so a crashed receiver never leaves the file claimed. The file
// holds the owner's PID, for the error a second receiver gets.
type owner struct {
	f *os.File
}

func ownerPath(dbPath string) string { return dbPath + "-receiver.lock" }

// claim takes the lock on dbPath's lock file, waiting up to ownerWait (or
// until ctx ends); onWait (if set) hears once that it waits, and for whom.
func claim(ctx context.Context, dbPath string, onWait func(string)) (*owner, error) {
	path := ownerPath(dbPath)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	deadline := time.Now().Add(ownerWait)
	for waited := false; ; waited = true {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			who := holder(f)
			f.Close()
			return nil, fmt.Errorf("%w: %s holds %s; a SQLite store serves one receiver, run replicas on PostgreSQL",
				ErrInUse, who, path)
		}
		if !waited && onWait != nil {
			onWait(fmt.Sprintf("%s holds %s; waiting up to %s for it to let go", holder(f), path, ownerWait))
		}
		if !ctxwait.Sleep(ctx, ownerPoll) {
			f.Close()
			return nil, fmt.Errorf("wait for %s: %w", path, ctx.Err())
		}
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &owner{f: f}, nil
}

// release gives the file up (closing the descriptor drops the lock).
func (o *owner) release() error {
	if o == nil {
		return nil
	}
	return o.f.Close()
}

// holder names the process whose PID the lock file holds, for messages.
func holder(f *os.File) string {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid := strings.TrimSpace(string(buf[:n]))
	if _, err := strconv.Atoi(pid); err != nil {
		return "another process"
	}
	return "process " + pid
}
