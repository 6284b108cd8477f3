package sqlite_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
)

// TestOpenClaimsTheFile: while one store has the file open, a second Open
// of it is refused with ErrInUse naming the holder; it waits for a holder
// that is closing, and the file is free again after Close.
func TestOpenClaimsTheFile(t *testing.T) {
	defer sqlite.SetOwnerWait(300 * time.Millisecond)()
	path := filepath.Join(t.TempDir(), "receiver.db")
	first, err := sqlite.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(path, store.Options{})
	if !errors.Is(err, sqlite.ErrInUse) {
		first.Close()
		t.Fatalf("second Open = %v, want ErrInUse", err)
	}
	for _, want := range []string{strconv.Itoa(os.Getpid()), "PostgreSQL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// A holder that closes while Open waits hands the file over; the
	// waiting is reported once, naming the holder.
	defer sqlite.SetOwnerWait(5 * time.Second)()
	go func() {
		time.Sleep(200 * time.Millisecond)
		first.Close()
	}()
	var waits []string
	second, err := sqlite.Open(path, store.Options{OnWait: func(reason string) { waits = append(waits, reason) }})
	if err != nil {
		t.Fatalf("Open while the holder closes = %v, want it to wait and succeed", err)
	}
	second.Close()
	if len(waits) != 1 || !strings.Contains(waits[0], strconv.Itoa(os.Getpid())) {
		t.Errorf("OnWait heard %q, want one reason naming pid %d", waits, os.Getpid())
	}
}

// TestOwnerDiesHard: a receiver killed with SIGKILL leaves no claim behind
// (the kernel drops the lock with the process).
func TestOwnerDiesHard(t *testing.T) {
	if path := os.Getenv("SQLITE_OWNER_HELPER_DB"); path != "" {
		db, err := sqlite.Open(path, store.Options{})
		if err != nil {
			os.Exit(3)
		}
		defer db.Close()
		os.Stdout.WriteString("open\n")
		time.Sleep(time.Minute) // killed long before
		return
	}
	defer sqlite.SetOwnerWait(200 * time.Millisecond)()
	path := filepath.Join(t.TempDir(), "receiver.db")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestOwnerDiesHard$")
	cmd.Env = append(os.Environ(), "SQLITE_OWNER_HELPER_DB="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	buf := make([]byte, 5)
	if _, err := out.Read(buf); err != nil || string(buf) != "open\n" {
		t.Fatalf("helper did not open the store: %q, %v", buf, err)
	}
	_, err = sqlite.Open(path, store.Options{})
	if !errors.Is(err, sqlite.ErrInUse) || !strings.Contains(err.Error(), strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("Open beside a live holder = %v, want ErrInUse naming pid %d", err, cmd.Process.Pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	db, err := sqlite.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("Open after the holder was killed = %v", err)
	}
	db.Close()
}

// TestOpenWaitEndsWithContext: a receiver told to stop while it waits for
// another holder of the file stops waiting at once.
func TestOpenWaitEndsWithContext(t *testing.T) {
	defer sqlite.SetOwnerWait(time.Minute)()
	path := filepath.Join(t.TempDir(), "receiver.db")
	first, err := sqlite.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = sqlite.OpenContext(ctx, path, store.Options{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("OpenContext = %v, want the context's error", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("OpenContext returned after %v, want soon after its context ended", waited)
	}
}
