//go:build unix

package sqlite

import "syscall"

// freeSpace returns the bytes an unprivileged writer may still use on the
// file system holding dir.
func freeSpace(dir string) (uint64, bool) {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}
