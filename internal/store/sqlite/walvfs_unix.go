//go:build unix

package sqlite

import (
	"syscall"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// dupDescriptor duplicates the descriptor of the unix VFS file at pFile,
// checking that it is the file at path.
func dupDescriptor(pFile uintptr, path string) (fileID, int, bool) {
	if libc.GoString(vfsAt(baseVFS).FzName) != "unix" {
		return fileID{}, -1, false
	}
	fd := int((*sqlite3.TunixFile)(unsafe.Add(nil, pFile)).Fh)
	var byFD syscall.Stat_t
	byPath, ok := statID(path)
	if syscall.Fstat(fd, &byFD) != nil || !ok || byPath != (fileID{uint64(byFD.Dev), uint64(byFD.Ino)}) {
		return fileID{}, -1, false
	}
	dup, err := syscall.Dup(fd)
	if err != nil {
		return fileID{}, -1, false
	}
	syscall.CloseOnExec(dup)
	return byPath, dup, true
}

// statID returns the device and inode of the file at path.
func statID(path string) (fileID, bool) {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return fileID{}, false
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}, true
}

func closeFD(fd int) { _ = syscall.Close(fd) }

// walFsync syncs a WAL file's descriptor; tests replace it.
var walFsync = syscall.Fsync
