// Package ctxwait waits for a duration unless a context ends first.
package ctxwait

import (
	"context"
	"time"
)

// Sleep waits d and reports true, or reports false as soon as ctx is done
// (at once when it already is). d <= 0 returns true at once unless ctx is
// done.
func Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
