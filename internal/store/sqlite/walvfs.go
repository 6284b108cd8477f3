package sqlite

// The WAL-gathering VFS. SQLite writes each WAL frame with two pwrite calls
// (its 24-byte header, then the page), so a commit that dirties a hundred
// pages makes two hundred system calls before its one fsync; on a VM a call
// costs microseconds whatever its size. This VFS wraps the default one and
// gathers the writes to a WAL file in memory while they are contiguous,
// writing them with one call when SQLite syncs the log, and before anything
// else touches the file (a read, a truncate, its size, a file control, a
// close). Durability is unchanged: SQLite counts nothing as committed before
// its sync of the WAL returns, and a sync here returns only after the
// gathered bytes were written and the base VFS's sync succeeded. A failed
// write fails that sync, so the commit fails and its callers hear an error.
// Readers on other connections find frames through the wal-index, which
// SQLite updates only after the sync, so they never look for bytes still
// held here.
//
// The VFS also lets the store defer the fsync of a commit (deferSync,
// syncTo): the sync SQLite asks for at the end of a commit then only writes
// the gathered frames, and the group committer runs the fsync, on a
// duplicate of the file's descriptor, before it answers that commit's
// callers, while the writer goes on with the next batch (docs/store.md).

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// walVFSName is the name the VFS is registered under (the vfs= parameter).
const walVFSName = "receiver-walgather"

// gatherWAL says whether the writer opens through the VFS; tests and the
// store benchmark turn it off to compare.
var gatherWAL = true

// walGatherMax bounds what one WAL file holds before it writes anyway (a
// large transaction: a migration, a prune). A variable for tests.
var walGatherMax = 4 << 20

// walWriteMax is the most the unix VFS writes in one call: it masks the
// length of a write with 0x1ffff, so a write is at most 31 pages of 4 KiB.
const walWriteMax = 0x1f000

type (
	ioMethods = sqlite3.Tsqlite3_io_methods
	vfsStruct = sqlite3.Tsqlite3_vfs
	fileBase  = sqlite3.Tsqlite3_file
)

var (
	walVFSOnce sync.Once
	walVFSErr  error

	// In libc's heap, allocated once for the process: SQLite keeps their
	// addresses, and checkptr (-race) refuses such pointers into Go's memory.
	walVFS  uintptr // our sqlite3_vfs
	baseVFS uintptr // the default VFS ("unix")

	walMu    sync.Mutex
	wrappers = map[uintptr]uintptr{}  // base methods table → its wrapper
	walFiles = map[uintptr]*walFile{} // open WAL file → its gathered writes
	walByID  = map[fileID]*walFile{}  // the same, by device and inode

	// walGathered counts the writes SQLite made to WAL files, walWrites the
	// writes the VFS made of them (tests).
	walGathered, walWrites atomic.Int64
	// walWriteFault, when set (tests), fails the write it returns true for.
	walWriteFault func() bool
)

// walFile is one open WAL file's gathered writes: buf (libc's heap, cap
// bytes) holds the n bytes of [off, off+n) not yet written.
type walFile struct {
	base   uintptr // the base VFS's methods table
	buf    uintptr
	n, cap int
	off    int64

	// Deferred syncs (see (*DB).commit): while deferSync is set, a sync
	// from SQLite writes what is gathered but leaves the fsync to syncTo,
	// which the store calls before it answers the commit's callers. fd is
	// a duplicate of the file's descriptor (-1: syncs are never deferred),
	// written counts the flushes that wrote bytes, synced how many of them
	// an fsync covered; a failed fsync (syncErr) fails every later syncTo.
	// syncErr is atomic, not under syncMu: syncTo holds syncMu through the
	// fsync, and the writer checks for a failed one before each batch
	// (syncFailed), which must not wait for the sync of the batch before
	// it (that wait is the overlap the deferred sync exists for).
	id        fileID
	fd        int
	deferSync atomic.Bool
	written   atomic.Uint64
	syncMu    sync.Mutex
	synced    uint64
	syncErr   atomic.Pointer[error]
	// gate keeps the writer's own checkpoints (DB.whileHealthy) and the
	// deferred fsyncs apart, so a checkpoint never runs between an fsync
	// that failed and the store learning of it.
	gate sync.Mutex
}

// fileID names a file by device and inode, which is how the store finds the
// WAL file its writer opened.
type fileID struct{ dev, ino uint64 }

// registerWALVFS registers the VFS once; later calls return the first result.
func registerWALVFS() error {
	walVFSOnce.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close()
		baseVFS = sqlite3.Xsqlite3_vfs_find(tls, 0)
		if baseVFS == 0 {
			walVFSErr = fmt.Errorf("sqlite: no default VFS")
			return
		}
		name, err := libc.CString(walVFSName)
		if err != nil {
			walVFSErr = err
			return
		}
		walVFS = libc.Xcalloc(tls, 1, libc.Tsize_t(unsafe.Sizeof(vfsStruct{})))
		if walVFS == 0 {
			walVFSErr = fmt.Errorf("sqlite: out of memory")
			return
		}
		v := vfsAt(walVFS)
		*v = *vfsAt(baseVFS)
		v.FpNext = 0
		v.FzName = name
		*(*openFn)(unsafe.Pointer(&v.FxOpen)) = walOpen
		if rc := sqlite3.Xsqlite3_vfs_register(tls, walVFS, 0); rc != sqlite3.SQLITE_OK {
			walVFSErr = fmt.Errorf("sqlite: register VFS: code %d", rc)
		}
	})
	return walVFSErr
}

// fn reads a C function pointer field as a Go function of type F.
func fn[F any](p uintptr) F { return *(*F)(unsafe.Pointer(&struct{ uintptr }{p})) }

type (
	openFn  = func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32
	closeFn = func(*libc.TLS, uintptr) int32
	rwFn    = func(*libc.TLS, uintptr, uintptr, int32, int64) int32
	truncFn = func(*libc.TLS, uintptr, int64) int32
	syncFn  = func(*libc.TLS, uintptr, int32) int32
	sizeFn  = func(*libc.TLS, uintptr, uintptr) int32
	fctlFn  = func(*libc.TLS, uintptr, int32, uintptr) int32
)

// The structs SQLite hands over live in libc's heap, outside Go's.
func vfsAt(p uintptr) *vfsStruct     { return (*vfsStruct)(unsafe.Add(nil, p)) }
func methodsAt(p uintptr) *ioMethods { return (*ioMethods)(unsafe.Add(nil, p)) }
func fileAt(p uintptr) *fileBase     { return (*fileBase)(unsafe.Add(nil, p)) }

func walOpen(tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	rc := fn[openFn](vfsAt(baseVFS).FxOpen)(tls, baseVFS, zName, pFile, flags, pOutFlags)
	if rc != sqlite3.SQLITE_OK || flags&sqlite3.SQLITE_OPEN_WAL == 0 {
		return rc
	}
	f := fileAt(pFile)
	if f.FpMethods == 0 {
		return rc
	}
	walMu.Lock()
	defer walMu.Unlock()
	w, ok := wrappers[f.FpMethods]
	if !ok {
		w = libc.Xcalloc(tls, 1, libc.Tsize_t(unsafe.Sizeof(ioMethods{})))
		if w == 0 {
			return rc // unwrapped: written as the base VFS writes
		}
		m := methodsAt(w)
		*m = *methodsAt(f.FpMethods)
		*(*closeFn)(unsafe.Pointer(&m.FxClose)) = walClose
		*(*rwFn)(unsafe.Pointer(&m.FxRead)) = walRead
		*(*rwFn)(unsafe.Pointer(&m.FxWrite)) = walWrite
		*(*truncFn)(unsafe.Pointer(&m.FxTruncate)) = walTruncate
		*(*syncFn)(unsafe.Pointer(&m.FxSync)) = walSync
		*(*sizeFn)(unsafe.Pointer(&m.FxFileSize)) = walFileSize
		*(*fctlFn)(unsafe.Pointer(&m.FxFileControl)) = walFileControl
		wrappers[f.FpMethods] = w
	}
	wf := &walFile{base: f.FpMethods, fd: -1}
	if id, fd, ok := dupDescriptor(pFile, libc.GoString(zName)); ok {
		wf.id, wf.fd = id, fd
		walByID[id] = wf
	}
	walFiles[pFile] = wf
	f.FpMethods = w
	return rc
}

// walFileFor returns the open WAL file id that the VFS can sync apart from
// its commits, or nil.
func walFileFor(id fileID) *walFile {
	walMu.Lock()
	defer walMu.Unlock()
	return walByID[id]
}

// syncTo returns once the flushes up to ticket (a value of written) are
// durable, running an fsync if no earlier one covered them.
func (w *walFile) syncTo(ticket uint64) error {
	w.gate.Lock()
	defer w.gate.Unlock()
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if err := w.syncFailed(); err != nil {
		return err
	}
	if w.synced >= ticket {
		return nil
	}
	if w.fd < 0 {
		return fmt.Errorf("sync WAL: file closed")
	}
	target := w.written.Load()
	if err := walFsync(w.fd); err != nil {
		// What the kernel failed to write may be gone from its cache too:
		// nothing written since can be called durable any more.
		err = fmt.Errorf("sync WAL: %w", err)
		w.syncErr.Store(&err)
		return err
	}
	w.synced = max(w.synced, target)
	return nil
}

// syncFailed returns the error of a failed fsync, if any. It does not wait
// for an fsync in progress: one that fails later fails every syncTo after
// it, so nothing committed meanwhile is acknowledged.
func (w *walFile) syncFailed() error {
	if p := w.syncErr.Load(); p != nil {
		return *p
	}
	return nil
}

func lookup(pFile uintptr) *walFile {
	walMu.Lock()
	w := walFiles[pFile]
	walMu.Unlock()
	return w
}

// flush writes the gathered bytes through the base VFS, in pieces it takes
// whole. The bytes are dropped whether or not the write succeeds: a failed
// write fails the sync (or read) that asked for it, so SQLite abandons the
// transaction those frames belong to.
func (w *walFile) flush(tls *libc.TLS, pFile uintptr) int32 {
	if w.n == 0 {
		return sqlite3.SQLITE_OK
	}
	defer func() {
		w.n = 0
		w.written.Add(1)
	}()
	write := fn[rwFn](methodsAt(w.base).FxWrite)
	for done := 0; done < w.n; {
		k := min(w.n-done, walWriteMax)
		walWrites.Add(1)
		if walWriteFault != nil && walWriteFault() {
			return sqlite3.SQLITE_IOERR_WRITE
		}
		if rc := write(tls, pFile, w.buf+uintptr(done), int32(k), w.off+int64(done)); rc != sqlite3.SQLITE_OK {
			return rc
		}
		done += k
	}
	return sqlite3.SQLITE_OK
}

func walWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	walGathered.Add(1)
	w := lookup(pFile)
	if w.n > 0 && (iOfst != w.off+int64(w.n) || w.n+int(iAmt) > walGatherMax) {
		if rc := w.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
			return rc
		}
	}
	if w.n+int(iAmt) > w.cap {
		c := max(2*w.cap, w.n+int(iAmt), 64<<10)
		p := libc.Xrealloc(tls, w.buf, libc.Tsize_t(c))
		if p == 0 {
			return sqlite3.SQLITE_NOMEM
		}
		w.buf, w.cap = p, c
	}
	if w.n == 0 {
		w.off = iOfst
	}
	libc.Xmemcpy(tls, w.buf+uintptr(w.n), zBuf, libc.Tsize_t(iAmt))
	w.n += int(iAmt)
	return sqlite3.SQLITE_OK
}

func walRead(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	w := lookup(pFile)
	if rc := w.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[rwFn](methodsAt(w.base).FxRead)(tls, pFile, zBuf, iAmt, iOfst)
}

func walTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	w := lookup(pFile)
	if rc := w.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[truncFn](methodsAt(w.base).FxTruncate)(tls, pFile, size)
}

func walSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	w := lookup(pFile)
	if rc := w.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	if w.deferSync.Load() && w.fd >= 0 {
		return sqlite3.SQLITE_OK // the store calls syncTo before answering
	}
	ticket := w.written.Load()
	rc := fn[syncFn](methodsAt(w.base).FxSync)(tls, pFile, flags)
	if rc == sqlite3.SQLITE_OK {
		w.syncMu.Lock()
		w.synced = max(w.synced, ticket)
		w.syncMu.Unlock()
	}
	return rc
}

func walFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	w := lookup(pFile)
	if rc := w.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[sizeFn](methodsAt(w.base).FxFileSize)(tls, pFile, pSize)
}

func walFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	w := lookup(pFile)
	if rc := w.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[fctlFn](methodsAt(w.base).FxFileControl)(tls, pFile, op, pArg)
}

func walClose(tls *libc.TLS, pFile uintptr) int32 {
	w := lookup(pFile)
	rc := w.flush(tls, pFile)
	rcClose := fn[closeFn](methodsAt(w.base).FxClose)(tls, pFile)
	libc.Xfree(tls, w.buf)
	w.syncMu.Lock()
	if w.fd >= 0 {
		closeFD(w.fd)
		w.fd = -1
	}
	w.syncMu.Unlock()
	walMu.Lock()
	delete(walFiles, pFile)
	if walByID[w.id] == w {
		delete(walByID, w.id)
	}
	walMu.Unlock()
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return rcClose
}

// syncDir makes the entries of directory dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
