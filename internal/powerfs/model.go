// Package powerfs is a FUSE file system for tests that models what a power
// cut does to a disk behind a page cache. Reads and writes pass through to
// files in a backing directory, but a write is held in memory (the "page
// cache") until an fsync or fdatasync of that file covers it, and a
// directory entry made by create, unlink or rename is held until an fsync of
// its directory covers it. PowerCut drops everything not yet covered (or, torn,
// keeps a random subset of the pages and of the directories), so what a
// program finds after the next mount is what a disk would hold after power
// came back. FailNextFsync and SetFull inject the two storage errors a
// database must survive: an fsync that fails with EIO (and, as on Linux,
// drops the pages it could not write from what will ever be durable while
// still serving them from the cache) and writes that fail with ENOSPC.
//
// What the model covers and what it does not is listed in docs/powerloss.md.
package powerfs

import (
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// PageSize is the unit of write-back: a torn power cut keeps or drops whole
// pages.
const PageSize = 4096

// Model is the file system's state: the durable part (the backing files and
// each directory's durable entries) and the cached part (dirty pages, sizes
// and entries not yet synced). It outlives mounts: Mount serves it, PowerCut
// changes it between mounts.
type Model struct {
	mu      sync.Mutex
	backing string
	nextIno uint64
	inodes  map[uint64]*inode
	rootIno uint64

	failFsync  int  // fsyncs of regular files still to fail with EIO
	full       bool // writes that would allocate fail with ENOSPC
	mounted    bool
	stats      Stats
	openCount  int
	rand       *rand.Rand
	onFsyncErr func(path string)
}

// Stats counts what the model saw, for a test's report.
type Stats struct {
	Writes, Fsyncs, DirFsyncs, FsyncEIO, ENOSPC int64
	Cuts, TornCuts                              int64
	PagesDropped, PagesKept                     int64
}

type inode struct {
	ino uint64
	dir bool

	// A directory: its entries as the cache has them and as the disk does.
	cur, dur map[string]uint64

	// A regular file. The backing file holds the durable content, durSize
	// bytes of it. size is the size the cache shows; reads of a page in
	// dirty or lost come from memory, else from the backing file below
	// zeroFrom (a truncation not yet synced makes what lies past it read
	// as zeros), else zeros.
	backing  *os.File
	durSize  int64
	size     int64
	zeroFrom int64
	dirty    map[int64][]byte
	// lost holds pages whose write-back failed (an fsync returned EIO):
	// still served from the cache, never written unless written again.
	lost   map[int64][]byte
	errseq uint64 // write-back errors so far; each handle reports each once
	opens  int
}

// New makes an empty file system whose durable content lives in backing
// (an empty directory the caller owns and removes).
func New(backing string, seed uint64) (*Model, error) {
	if err := os.MkdirAll(backing, 0o700); err != nil {
		return nil, err
	}
	m := &Model{backing: backing, inodes: map[uint64]*inode{}, rand: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	root := m.newInode(true)
	root.dur = map[string]uint64{}
	m.rootIno = root.ino
	return m, nil
}

func (m *Model) newInode(dir bool) *inode {
	m.nextIno++
	n := &inode{ino: m.nextIno, dir: dir}
	if dir {
		n.cur, n.dur = map[string]uint64{}, map[string]uint64{}
	} else {
		n.dirty, n.lost = map[int64][]byte{}, map[int64][]byte{}
	}
	m.inodes[n.ino] = n
	return n
}

func (m *Model) backingPath(ino uint64) string {
	return filepath.Join(m.backing, fmt.Sprintf("ino-%d", ino))
}

// file returns the inode's backing file, opening (creating) it if needed.
func (m *Model) file(n *inode) (*os.File, error) {
	if n.backing == nil {
		f, err := os.OpenFile(m.backingPath(n.ino), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		n.backing = f
	}
	return n.backing, nil
}

// FailNextFsync makes the next fsync or fdatasync of a regular file fail
// with EIO; its dirty pages are then lost at the next power cut (or
// rewritten later), and every other open handle of that file reports the
// error at its own next fsync, as Linux does.
func (m *Model) FailNextFsync() {
	m.mu.Lock()
	m.failFsync++
	m.mu.Unlock()
}

// OnFsyncError, if set, hears the path-less inode description of every fsync
// answered with EIO (for a test's timeline).
func (m *Model) OnFsyncError(f func(what string)) {
	m.mu.Lock()
	m.onFsyncErr = f
	m.mu.Unlock()
}

// SetFull makes writes that need new space fail with ENOSPC (full) or
// succeed again (not full). Overwriting bytes within a file's size never
// needs new space.
func (m *Model) SetFull(full bool) {
	m.mu.Lock()
	m.full = full
	m.mu.Unlock()
}

// Stats returns the counters so far.
func (m *Model) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// page returns the cached content of page pg of n (a copy when it comes
// from the disk), PageSize bytes.
func (m *Model) page(n *inode, pg int64) ([]byte, error) {
	if b, ok := n.dirty[pg]; ok {
		return b, nil
	}
	if b, ok := n.lost[pg]; ok {
		return b, nil
	}
	b := make([]byte, PageSize)
	off := pg * PageSize
	limit := min(n.durSize, n.zeroFrom)
	if off < limit {
		f, err := m.file(n)
		if err != nil {
			return nil, err
		}
		k, err := f.ReadAt(b[:min(PageSize, limit-off)], off)
		if err != nil && err != io.EOF {
			return nil, err
		}
		_ = k
	}
	return b, nil
}

// read copies [off, off+len(dest)) of n as the cache shows it.
func (m *Model) read(n *inode, dest []byte, off int64) (int, error) {
	if off >= n.size {
		return 0, nil
	}
	done := 0
	for sp := range pageSpans(off, min(off+int64(len(dest)), n.size)) {
		b, err := m.page(n, sp.page)
		if err != nil {
			return done, err
		}
		done += copy(dest[done:], b[sp.in:sp.in+sp.n])
	}
	return done, nil
}

// span is the part of one page a read or write covers: bytes [in, in+n)
// of page number page.
type span struct{ page, in, n int64 }

// pageSpans yields the spans of the pages [off, end) covers, in order.
func pageSpans(off, end int64) iter.Seq[span] {
	return func(yield func(span) bool) {
		for pos := off; pos < end; {
			sp := span{page: pos / PageSize, in: pos % PageSize}
			sp.n = min(PageSize-sp.in, end-pos)
			if !yield(sp) {
				return
			}
			pos += sp.n
		}
	}
}

// write stores data at off in the cache.
func (m *Model) write(n *inode, data []byte, off int64) (int, syscall.Errno) {
	end := off + int64(len(data))
	if m.full && end > n.size {
		m.stats.ENOSPC++
		return 0, syscall.ENOSPC
	}
	m.stats.Writes++
	done := 0
	for sp := range pageSpans(off, end) {
		b, err := m.page(n, sp.page)
		if err != nil {
			return done, syscall.EIO
		}
		if _, ok := n.dirty[sp.page]; !ok {
			c := make([]byte, PageSize)
			copy(c, b)
			b = c
		}
		done += copy(b[sp.in:sp.in+sp.n], data[done:])
		n.dirty[sp.page] = b
		delete(n.lost, sp.page)
	}
	n.size = max(n.size, end)
	return done, 0
}

// truncate sets n's cached size.
func (m *Model) truncate(n *inode, size int64) syscall.Errno {
	// Growing a file by truncation allocates nothing (a sparse tail), so
	// it succeeds on a full disk too.
	if size < n.size {
		for pg := range n.dirty {
			if pg*PageSize >= size {
				delete(n.dirty, pg)
			}
		}
		for pg := range n.lost {
			if pg*PageSize >= size {
				delete(n.lost, pg)
			}
		}
		if in := size % PageSize; in != 0 {
			// The page holding the new end reads as zeros past it when
			// the file grows again.
			pg := size / PageSize
			b, err := m.page(n, pg)
			if err != nil {
				return syscall.EIO
			}
			c := make([]byte, PageSize)
			copy(c, b[:in])
			n.dirty[pg] = c
			delete(n.lost, pg)
		}
		n.zeroFrom = min(n.zeroFrom, size)
	}
	n.size = size
	return 0
}

// fsync makes n's cached content durable, or fails with EIO when one was
// asked for (then the dirty pages are lost: served from the cache, never
// written). seen is the handle's last reported error count.
func (m *Model) fsync(n *inode, seen *uint64) syscall.Errno {
	m.stats.Fsyncs++
	if m.failFsync > 0 {
		m.failFsync--
		m.stats.FsyncEIO++
		for pg, b := range n.dirty {
			n.lost[pg] = b
		}
		n.dirty = map[int64][]byte{}
		n.errseq++
		*seen = n.errseq
		if m.onFsyncErr != nil {
			m.onFsyncErr(fmt.Sprintf("inode %d", n.ino))
		}
		return syscall.EIO
	}
	if *seen < n.errseq {
		// An error another handle's fsync met: reported once here too.
		*seen = n.errseq
		m.stats.FsyncEIO++
		return syscall.EIO
	}
	f, err := m.file(n)
	if err != nil {
		return syscall.EIO
	}
	if n.zeroFrom < n.durSize {
		if err := f.Truncate(n.zeroFrom); err != nil {
			return syscall.EIO
		}
	}
	for _, pg := range sortedPages(n.dirty) {
		off := pg * PageSize
		if off >= n.size {
			continue
		}
		b := n.dirty[pg][:min(PageSize, n.size-off)]
		if _, err := f.WriteAt(b, off); err != nil {
			return syscall.EIO
		}
	}
	if err := f.Truncate(n.size); err != nil {
		return syscall.EIO
	}
	n.dirty = map[int64][]byte{}
	n.durSize, n.zeroFrom = n.size, n.size
	return 0
}

// fsyncDir makes a directory's entries durable.
func (m *Model) fsyncDir(n *inode) {
	m.stats.DirFsyncs++
	n.dur = clone(n.cur)
}
