package powerfs

import (
	"errors"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPageSpans(t *testing.T) {
	for _, tc := range []struct {
		off, end int64
		want     []span
	}{
		{0, 0, nil},
		{10, 20, []span{{0, 10, 10}}},
		{0, PageSize, []span{{0, 0, PageSize}}},
		{PageSize - 1, PageSize + 1, []span{{0, PageSize - 1, 1}, {1, 0, 1}}},
		{100, 3*PageSize + 5, []span{{0, 100, PageSize - 100}, {1, 0, PageSize}, {2, 0, PageSize}, {3, 0, 5}}},
	} {
		if d := cmp.Diff(tc.want, slices.Collect(pageSpans(tc.off, tc.end)), cmp.AllowUnexported(span{})); d != "" {
			t.Errorf("pageSpans(%d, %d) (-want +got):\n%s", tc.off, tc.end, d)
		}
	}
}

// TestRemove: unlink takes files only, rmdir empty directories only, and
// both answer ENOENT for a name that is not there.
func TestRemove(t *testing.T) {
	f := newFixture(t)
	if err := os.WriteFile(f.path("file"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"dir", "full", "full/sub"} {
		if err := os.Mkdir(f.path(d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		op   string
		name string
		want error
	}{
		{"unlink", "dir", syscall.EISDIR},
		{"rmdir", "file", syscall.ENOTDIR},
		{"rmdir", "full", syscall.ENOTEMPTY},
		{"unlink", "none", syscall.ENOENT},
		{"rmdir", "none", syscall.ENOENT},
		{"unlink", "file", nil},
		{"rmdir", "dir", nil},
		{"rmdir", "full/sub", nil},
		{"rmdir", "full", nil},
	} {
		remove := syscall.Unlink
		if tc.op == "rmdir" {
			remove = syscall.Rmdir
		}
		if err := remove(f.path(tc.name)); !errors.Is(err, tc.want) && err != tc.want {
			t.Errorf("%s(%s) = %v, want %v", tc.op, tc.name, err, tc.want)
		}
	}
	if entries, err := os.ReadDir(f.dir); err != nil || len(entries) != 0 {
		t.Errorf("left %v, %v; want an empty directory", entries, err)
	}
}
