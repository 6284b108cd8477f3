package powerfs

import (
	"fmt"
	"os"
	"sort"
)

// What a power cut does to the model: unsynced pages and sizes dropped,
// or a random part of them kept (torn write-back).

// PowerCut drops what the cache holds: every file's unsynced pages and size
// and every directory's unsynced entries. With torn set, a random subset of
// the dirty pages and of the directories' pending entries reaches the disk
// first, as write-back in progress would leave it (per page: kept or not;
// per file, whether its new size was written; per directory, its new
// entries or its old ones). Pages lost to a failed fsync are never written.
// The file system must not be mounted.
func (m *Model) PowerCut(torn bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mounted {
		return fmt.Errorf("powerfs: power cut while mounted: unmount first")
	}
	m.stats.Cuts++
	if torn {
		m.stats.TornCuts++
	}
	for _, n := range m.sortedInodes() {
		if n.dir {
			if torn && m.rand.IntN(2) == 0 {
				n.dur = clone(n.cur)
			}
			n.cur = clone(n.dur)
			continue
		}
		if torn {
			if err := m.tear(n); err != nil {
				return err
			}
		}
		m.stats.PagesDropped += int64(len(n.dirty) + len(n.lost))
		n.dirty, n.lost = map[int64][]byte{}, map[int64][]byte{}
		n.size, n.zeroFrom = n.durSize, n.durSize
		n.opens = 0
	}
	m.collect()
	return nil
}

// tear writes a random subset of n's dirty pages to the disk.
func (m *Model) tear(n *inode) error {
	f, err := m.file(n)
	if err != nil {
		return err
	}
	newSize := n.durSize
	if m.rand.IntN(2) == 0 {
		newSize = n.size // the size change reached the disk
	}
	if n.zeroFrom < n.durSize && m.rand.IntN(2) == 0 {
		// A pending truncation reached the disk.
		if err := f.Truncate(n.zeroFrom); err != nil {
			return err
		}
		n.durSize = n.zeroFrom
	}
	for _, pg := range sortedPages(n.dirty) {
		if m.rand.IntN(2) == 0 {
			continue
		}
		off := pg * PageSize
		if off >= newSize {
			continue // written to blocks the file's size does not reach
		}
		b := n.dirty[pg][:min(PageSize, newSize-off)]
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
		delete(n.dirty, pg)
		m.stats.PagesKept++
	}
	if err := f.Truncate(newSize); err != nil {
		return err
	}
	n.durSize = newSize
	return nil
}

// collect deletes the inodes no directory names, on disk or in the cache,
// and that no handle holds open.
func (m *Model) collect() {
	named := map[uint64]bool{m.rootIno: true}
	for _, n := range m.inodes {
		if n.dir {
			for _, c := range n.cur {
				named[c] = true
			}
			for _, c := range n.dur {
				named[c] = true
			}
		}
	}
	for ino, n := range m.inodes {
		if named[ino] || n.opens > 0 {
			continue
		}
		if n.backing != nil {
			n.backing.Close()
		}
		os.Remove(m.backingPath(ino))
		delete(m.inodes, ino)
	}
}

func (m *Model) sortedInodes() []*inode {
	out := make([]*inode, 0, len(m.inodes))
	for _, n := range m.inodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ino < out[j].ino })
	return out
}

func sortedPages(p map[int64][]byte) []int64 {
	out := make([]int64, 0, len(p))
	for k := range p {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func clone(m map[string]uint64) map[string]uint64 {
	c := make(map[string]uint64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
