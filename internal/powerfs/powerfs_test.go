package powerfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Require skips the test when FUSE cannot be mounted here, or fails it when
// RECEIVER_REQUIRE_FUSE is set (CI, where the power-loss gate must run).
func require(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("RECEIVER_REQUIRE_FUSE") != "" {
			t.Fatalf("RECEIVER_REQUIRE_FUSE is set but FUSE is unavailable: %v", err)
		}
		t.Skipf("FUSE unavailable (%v): runs where /dev/fuse opens, as root in CI", err)
	}
}

// fixture mounts a fresh model; cut unmounts, cuts the power and mounts again.
type fixture struct {
	t   *testing.T
	m   *Model
	mt  *Mount
	dir string
}

func newFixture(t *testing.T) *fixture {
	require(t)
	m, err := New(t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, m: m, dir: t.TempDir()}
	f.mount()
	t.Cleanup(func() {
		if f.mt != nil {
			_ = f.mt.Unmount()
		}
	})
	return f
}

func (f *fixture) mount() {
	mt, err := f.m.Mount(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mt = mt
}

func (f *fixture) cut(torn bool) {
	f.t.Helper()
	if err := f.mt.Unmount(); err != nil {
		f.t.Fatal(err)
	}
	f.mt = nil
	if err := f.m.PowerCut(torn); err != nil {
		f.t.Fatal(err)
	}
	f.mount()
}

func (f *fixture) path(name string) string { return filepath.Join(f.dir, name) }

func (f *fixture) read(name string) ([]byte, error) { return os.ReadFile(f.path(name)) }

func (f *fixture) syncDir() {
	d, err := os.Open(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		f.t.Fatalf("directory fsync: %v", err)
	}
}

func TestUnsyncedWritesAndEntriesAreLostAtACut(t *testing.T) {
	f := newFixture(t)
	a, err := os.Create(f.path("a"))
	if err != nil {
		t.Fatal(err)
	}
	first := bytes.Repeat([]byte("1"), 10000)
	if _, err := a.Write(first); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(); err != nil {
		t.Fatal(err)
	}
	f.syncDir()
	if _, err := a.WriteAt(bytes.Repeat([]byte("2"), 5000), 8000); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.read("a"); len(got) != 13000 {
		t.Fatalf("before the cut the cache shows %d bytes, want 13000", len(got))
	}
	// A file created but whose directory was never synced.
	if err := os.WriteFile(f.path("b"), []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := os.Open(f.path("b"))
	_ = b.Sync() // the file's own fsync does not make its name durable
	b.Close()
	a.Close()
	f.cut(false)

	got, err := f.read("a")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, first) {
		t.Errorf("after the cut a holds %d bytes (%q...), want the synced 10000 bytes of 1", len(got), got[8000:8010])
	}
	if _, err := f.read("b"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("b, created without a directory fsync, after the cut: %v, want not found", err)
	}
	// Unlink and rename are durable only with the directory's fsync.
	if err := os.Rename(f.path("a"), f.path("c")); err != nil {
		t.Fatal(err)
	}
	f.cut(false)
	if _, err := f.read("a"); err != nil {
		t.Errorf("a renamed without a directory fsync is gone after the cut: %v", err)
	}
	if err := os.Rename(f.path("a"), f.path("c")); err != nil {
		t.Fatal(err)
	}
	f.syncDir()
	f.cut(false)
	if got, err := f.read("c"); err != nil || !bytes.Equal(got, first) {
		t.Errorf("c after a synced rename: %d bytes, %v", len(got), err)
	}
	if err := os.Remove(f.path("c")); err != nil {
		t.Fatal(err)
	}
	f.cut(false)
	if _, err := f.read("c"); err != nil {
		t.Errorf("c unlinked without a directory fsync is gone after the cut: %v", err)
	}
}

func TestTruncateIsDurableOnlyWithFsync(t *testing.T) {
	f := newFixture(t)
	a, _ := os.Create(f.path("a"))
	a.Write(bytes.Repeat([]byte("x"), 9000))
	a.Sync()
	f.syncDir()
	a.Truncate(100)
	a.WriteAt([]byte("y"), 8999) // grows again: 101..8998 must read as zeros
	got, _ := f.read("a")
	if len(got) != 9000 || got[99] != 'x' || got[100] != 0 || got[5000] != 0 || got[8999] != 'y' {
		t.Fatalf("truncate then grow: len %d, [99]=%q [100]=%q [5000]=%q [8999]=%q", len(got), got[99], got[100], got[5000], got[8999])
	}
	a.Close()
	f.cut(false)
	if got, _ := f.read("a"); len(got) != 9000 || got[5000] != 'x' {
		t.Fatalf("after a cut the unsynced truncation must be undone: len %d", len(got))
	}
	a, _ = os.OpenFile(f.path("a"), os.O_RDWR, 0)
	a.Truncate(100)
	a.Sync()
	a.Close()
	f.cut(false)
	if got, _ := f.read("a"); len(got) != 100 {
		t.Fatalf("after a synced truncation and a cut: len %d, want 100", len(got))
	}
}

// TestFsyncEIO: the failed fsync's pages stay readable but are never
// written, a later fsync on the same handle succeeds (as on Linux), another
// handle open at the time reports the error once, and the cut loses them.
func TestFsyncEIO(t *testing.T) {
	f := newFixture(t)
	a, _ := os.Create(f.path("a"))
	other, _ := os.OpenFile(f.path("a"), os.O_RDWR, 0)
	f.syncDir()
	a.Write(bytes.Repeat([]byte("1"), PageSize))
	a.Sync()
	a.WriteAt(bytes.Repeat([]byte("2"), PageSize), PageSize)
	f.m.FailNextFsync()
	if err := a.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync after FailNextFsync = %v, want EIO", err)
	}
	if got, _ := f.read("a"); len(got) != 2*PageSize || got[PageSize] != '2' {
		t.Fatalf("the lost page must still be served from the cache")
	}
	if err := a.Sync(); err != nil {
		t.Fatalf("second fsync on the same handle = %v, want success (the error is reported once)", err)
	}
	if err := other.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync on another handle open at the error = %v, want EIO once", err)
	}
	if err := other.Sync(); err != nil {
		t.Fatalf("its second fsync = %v", err)
	}
	a.Close()
	other.Close()
	f.cut(false)
	got, _ := f.read("a")
	if len(got) != 2*PageSize || got[0] != '1' || got[PageSize] != 0 {
		t.Fatalf("after the cut the page whose write-back failed must hold what the disk had (zeros): len %d, [%d]=%q", len(got), PageSize, got[PageSize])
	}
	if s := f.m.Stats(); s.FsyncEIO != 2 {
		t.Errorf("FsyncEIO = %d, want 2", s.FsyncEIO)
	}
}

func TestENOSPC(t *testing.T) {
	f := newFixture(t)
	a, _ := os.Create(f.path("a"))
	defer a.Close()
	a.Write(bytes.Repeat([]byte("1"), 100))
	f.m.SetFull(true)
	if _, err := a.WriteAt([]byte("2"), 50); err != nil {
		t.Fatalf("overwrite within the file on a full disk: %v", err)
	}
	if _, err := a.WriteAt([]byte("3"), 100); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("growing write on a full disk = %v, want ENOSPC", err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(f.dir, &st); err != nil || st.Bavail != 0 {
		t.Fatalf("statfs on a full disk: avail %d, %v", st.Bavail, err)
	}
	f.m.SetFull(false)
	if _, err := a.WriteAt([]byte("3"), 100); err != nil {
		t.Fatalf("growing write once space returned: %v", err)
	}
}

// TestTornCutKeepsSomePages: a torn cut keeps a subset of the dirty pages,
// whole pages only, each either old or new.
func TestTornCutKeepsSomePages(t *testing.T) {
	f := newFixture(t)
	const pages = 64
	a, _ := os.Create(f.path("a"))
	a.Write(bytes.Repeat([]byte("o"), pages*PageSize))
	a.Sync()
	f.syncDir()
	for p := range pages {
		a.WriteAt(bytes.Repeat([]byte("n"), PageSize), int64(p*PageSize))
	}
	a.Close()
	f.cut(true)
	got, _ := f.read("a")
	if len(got) != pages*PageSize {
		t.Fatalf("len %d", len(got))
	}
	var newPages int
	for p := range pages {
		pg := got[p*PageSize : (p+1)*PageSize]
		switch {
		case bytes.Count(pg, []byte("n")) == PageSize:
			newPages++
		case bytes.Count(pg, []byte("o")) == PageSize:
		default:
			t.Fatalf("page %d is neither old nor new", p)
		}
	}
	if newPages == 0 || newPages == pages {
		t.Errorf("a torn cut kept %d of %d pages, want some but not all (seeded)", newPages, pages)
	}
}
