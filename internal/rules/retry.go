package rules

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/prolific-receiver/receiver/internal/backoff"
	"github.com/prolific-receiver/receiver/internal/notify"
	"github.com/prolific-receiver/receiver/internal/prolific"
)

// permanentError is a failure no retry can help.
type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }

// permanent reports whether err ends an action at once: Prolific's 4xx
// other than 429 (the request itself is refused), a notifier's permanent
// error, or the engine's own.
func permanent(err error) bool {
	var pe permanentError
	if errors.As(err, &pe) {
		return true
	}
	if prolific.IsPermanent(err) {
		return true
	}
	var ne *notify.Error
	if errors.As(err, &ne) {
		return notify.IsPermanent(err)
	}
	return false
}

// backoff is the wait before attempt attempts+1: full jitter over an
// exponential bound, at least a Retry-After the answer asked for.
func (e *Engine) backoff(attempts int, err error) time.Duration {
	bound := backoff.Bound(e.opts.BackoffBase, e.opts.BackoffMax, attempts)
	d := time.Duration(rand.Int64N(int64(bound)) + 1)
	if ra, ok := notify.RetryAfter(err); ok && ra > d {
		d = min(ra, time.Hour)
	}
	return d
}
