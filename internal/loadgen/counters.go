package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// counters collects the outcome of every request; safe for concurrent use.
type counters struct {
	hist       Histogram
	status     [600]atomic.Int64
	duplicates atomic.Int64
	late       atomic.Int64
	maxLag     atomic.Int64

	errMu sync.Mutex
	errs  map[string]int64
}

func newCounters() counters { return counters{errs: make(map[string]int64)} }

// done records a response.
func (c *counters) done(code int, latency time.Duration, dup bool) {
	if code < 0 || code >= len(c.status) {
		code = 0
	}
	c.status[code].Add(1)
	c.hist.Record(latency)
	if dup {
		c.duplicates.Add(1)
	}
}

// failed records a request that got no response.
func (c *counters) failed(err error, dup bool) {
	if dup {
		c.duplicates.Add(1)
	}
	kind := errorKind(err)
	c.errMu.Lock()
	c.errs[kind]++
	c.errMu.Unlock()
}

// lag records how far behind schedule an open-loop request started.
func (c *counters) lag(d, lateAfter time.Duration) {
	if d > lateAfter {
		c.late.Add(1)
	}
	for {
		old := c.maxLag.Load()
		if int64(d) <= old || c.maxLag.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// errorKind names a network error by its cause, without its text (which
// holds URLs and addresses that would make the counts unbounded).
func errorKind(err error) string {
	var nerr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	return "other"
}
