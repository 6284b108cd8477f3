package loadgen

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// ackWriter writes each acknowledged event ID once, one per line.
type ackWriter struct {
	mu   sync.Mutex
	w    *bufio.Writer
	seen map[string]struct{}
	err  error
}

func newAckWriter(w io.Writer) *ackWriter {
	return &ackWriter{w: bufio.NewWriter(w), seen: make(map[string]struct{})}
}

// add records id unless it was recorded before.
func (a *ackWriter) add(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.seen[id]; ok {
		return
	}
	a.seen[id] = struct{}{}
	if a.err == nil {
		_, a.err = a.w.WriteString(id + "\n")
	}
}

// len returns how many distinct IDs were recorded.
func (a *ackWriter) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seen)
}

// flush writes buffered IDs through and returns the first write error.
func (a *ackWriter) flush() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = a.w.Flush()
	}
	return a.err
}

// flushEvery flushes periodically, so that IDs reach the file even if the
// process dies, until the returned stop func is called.
func (a *ackWriter) flushEvery(d time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = a.flush()
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}
