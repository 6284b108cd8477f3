package powerfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Mount is the model served at a directory.
type Mount struct {
	m      *Model
	dir    string
	server *fuse.Server
}

// Available says whether this process can mount FUSE file systems here:
// /dev/fuse opens for reading and writing (root on these machines).
func Available() error {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("powerfs: /dev/fuse: %w", err)
	}
	return f.Close()
}

// Mount serves the model at dir (an existing empty directory) until
// Unmount. Caches in the kernel live no longer than a mount: a power cut is
// unmount, PowerCut, mount again. The serving process may read and write
// the mount's files but must not mmap them (SQLite maps its -shm file): a
// page fault that waits on this process's own FUSE server can stop the Go
// runtime for good. Run such programs as child processes, or copy the files
// out first.
func (m *Model) Mount(dir string) (*Mount, error) {
	m.mu.Lock()
	if m.mounted {
		m.mu.Unlock()
		return nil, errors.New("powerfs: already mounted")
	}
	m.mounted = true
	root := m.rootIno
	m.mu.Unlock()
	zero := time.Duration(0)
	opts := &fs.Options{
		MountOptions: fuse.MountOptions{
			FsName:      "powerfs",
			Name:        "powerfs",
			DirectMount: true, // mount(2) itself when root; else fusermount
		},
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		RootStableAttr:  &fs.StableAttr{Ino: root, Mode: syscall.S_IFDIR},
	}
	server, err := fs.Mount(dir, &node{m: m, ino: root}, opts)
	if err != nil {
		m.mu.Lock()
		m.mounted = false
		m.mu.Unlock()
		return nil, fmt.Errorf("powerfs: mount %s: %w", dir, err)
	}
	return &Mount{m: m, dir: dir, server: server}, nil
}

// Dir is where the file system is mounted.
func (mt *Mount) Dir() string { return mt.dir }

// Unmount unmounts; every process using the mount must have closed its
// files (killed, for a power cut). It retries for a few seconds while the
// mount is busy.
func (mt *Mount) Unmount() error {
	var err error
	for range 50 {
		if err = mt.server.Unmount(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("powerfs: unmount %s: %w", mt.dir, err)
	}
	mt.server.Wait()
	mt.m.mu.Lock()
	mt.m.mounted = false
	mt.m.mu.Unlock()
	return nil
}

// node is a file or directory of the model, as go-fuse sees it.
type node struct {
	fs.Inode
	m   *Model
	ino uint64
}

// handle is an open file: it remembers the write-back errors it reported.
type handle struct {
	n    *inode
	seen uint64
}

var (
	_ fs.NodeLookuper  = (*node)(nil)
	_ fs.NodeCreater   = (*node)(nil)
	_ fs.NodeUnlinker  = (*node)(nil)
	_ fs.NodeRenamer   = (*node)(nil)
	_ fs.NodeMkdirer   = (*node)(nil)
	_ fs.NodeRmdirer   = (*node)(nil)
	_ fs.NodeReaddirer = (*node)(nil)
	_ fs.NodeGetattrer = (*node)(nil)
	_ fs.NodeSetattrer = (*node)(nil)
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeReader    = (*node)(nil)
	_ fs.NodeWriter    = (*node)(nil)
	_ fs.NodeFsyncer   = (*node)(nil)
	_ fs.NodeFlusher   = (*node)(nil)
	_ fs.NodeReleaser  = (*node)(nil)
	_ fs.NodeStatfser  = (*node)(nil)
	_ fs.NodeAllocater = (*node)(nil)
)

// self returns the node's inode; the caller holds m.mu.
func (n *node) self() *inode { return n.m.inodes[n.ino] }

func (n *node) attr(in *inode, out *fuse.Attr) {
	out.Ino = in.ino
	out.Nlink = 1
	if in.dir {
		out.Mode = syscall.S_IFDIR | 0o755
		out.Nlink = 2
		out.Size = 4096
	} else {
		out.Mode = syscall.S_IFREG | 0o644
		out.Size = uint64(in.size)
		out.Blocks = (uint64(in.size) + 511) / 512
	}
	out.Blksize = PageSize
}

func (n *node) child(ctx context.Context, in *inode, out *fuse.EntryOut) *fs.Inode {
	n.attr(in, &out.Attr)
	mode := uint32(syscall.S_IFREG)
	if in.dir {
		mode = syscall.S_IFDIR
	}
	return n.NewInode(ctx, &node{m: n.m, ino: in.ino}, fs.StableAttr{Mode: mode, Ino: in.ino})
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	d := n.self()
	if d == nil || !d.dir {
		return nil, syscall.ENOTDIR
	}
	ino, ok := d.cur[name]
	if !ok {
		return nil, syscall.ENOENT
	}
	return n.child(ctx, n.m.inodes[ino], out), 0
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	d := n.self()
	if d == nil || !d.dir {
		return nil, nil, 0, syscall.ENOTDIR
	}
	var in *inode
	if ino, ok := d.cur[name]; ok {
		if flags&syscall.O_EXCL != 0 {
			return nil, nil, 0, syscall.EEXIST
		}
		in = n.m.inodes[ino]
		if flags&syscall.O_TRUNC != 0 {
			n.m.truncate(in, 0)
		}
	} else {
		in = n.m.newInode(false)
		d.cur[name] = in.ino
	}
	in.opens++
	return n.child(ctx, in, out), &handle{n: in, seen: in.errseq}, 0, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	d := n.self()
	if _, ok := d.cur[name]; ok {
		return nil, syscall.EEXIST
	}
	in := n.m.newInode(true)
	d.cur[name] = in.ino
	return n.child(ctx, in, out), 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno { return n.remove(name, false) }

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno { return n.remove(name, true) }

// remove deletes the entry name from n: an empty directory when dir
// (rmdir), else a file (unlink).
func (n *node) remove(name string, dir bool) syscall.Errno {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	d := n.self()
	ino, ok := d.cur[name]
	if !ok {
		return syscall.ENOENT
	}
	switch c := n.m.inodes[ino]; {
	case c.dir && !dir:
		return syscall.EISDIR
	case !c.dir && dir:
		return syscall.ENOTDIR
	case dir && len(c.cur) > 0:
		return syscall.ENOTEMPTY
	}
	delete(d.cur, name)
	n.m.collect()
	return 0
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags != 0 {
		return syscall.EINVAL // RENAME_EXCHANGE, RENAME_NOREPLACE: not modelled
	}
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	from, to := n.self(), np.self()
	ino, ok := from.cur[name]
	if !ok {
		return syscall.ENOENT
	}
	if old, ok := to.cur[newName]; ok && n.m.inodes[old].dir {
		return syscall.EISDIR
	}
	delete(from.cur, name)
	to.cur[newName] = ino
	n.m.collect()
	return 0
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	d := n.self()
	list := make([]fuse.DirEntry, 0, len(d.cur))
	for name, ino := range d.cur {
		mode := uint32(syscall.S_IFREG)
		if n.m.inodes[ino].dir {
			mode = syscall.S_IFDIR
		}
		list = append(list, fuse.DirEntry{Name: name, Ino: ino, Mode: mode})
	}
	return fs.NewListDirStream(list), 0
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	in := n.self()
	if in == nil {
		return syscall.ENOENT
	}
	n.attr(in, &out.Attr)
	return 0
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, set *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	in := n.self()
	if in == nil {
		return syscall.ENOENT
	}
	if size, ok := set.GetSize(); ok {
		if in.dir {
			return syscall.EISDIR
		}
		if errno := n.m.truncate(in, int64(size)); errno != 0 {
			return errno
		}
	}
	n.attr(in, &out.Attr)
	return 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	in := n.self()
	if in == nil {
		return nil, 0, syscall.ENOENT
	}
	if flags&syscall.O_TRUNC != 0 && !in.dir {
		n.m.truncate(in, 0)
	}
	in.opens++
	return &handle{n: in, seen: in.errseq}, 0, 0
}

func (n *node) Read(ctx context.Context, f fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	k, err := n.m.read(n.self(), dest, off)
	if err != nil {
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:k]), 0
}

func (n *node) Write(ctx context.Context, f fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	k, errno := n.m.write(n.self(), data, off)
	return uint32(k), errno
}

func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	in := n.self()
	if in == nil {
		return syscall.ENOENT
	}
	if in.dir {
		n.m.fsyncDir(in)
		return 0
	}
	var seen uint64
	h, _ := f.(*handle)
	if h != nil {
		seen = h.seen
	} else {
		seen = in.errseq
	}
	errno := n.m.fsync(in, &seen)
	if h != nil {
		h.seen = seen
	}
	return errno
}

func (n *node) Flush(ctx context.Context, f fs.FileHandle) syscall.Errno { return 0 }

func (n *node) Release(ctx context.Context, f fs.FileHandle) syscall.Errno {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	if h, ok := f.(*handle); ok && h.n.opens > 0 {
		h.n.opens--
		n.m.collect()
	}
	return 0
}

func (n *node) Allocate(ctx context.Context, f fs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	return syscall.EOPNOTSUPP
}

// Statfs reports a disk with no free blocks while the model is full, else
// plenty.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	n.m.mu.Lock()
	defer n.m.mu.Unlock()
	out.Bsize = PageSize
	out.Frsize = PageSize
	out.NameLen = 255
	out.Blocks = 1 << 24 // 64 GiB
	out.Files, out.Ffree = 1<<20, 1<<20
	if !n.m.full {
		out.Bfree, out.Bavail = 1<<23, 1<<23
	}
	return 0
}
