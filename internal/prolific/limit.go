package prolific

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/prolific-receiver/receiver/internal/ctxwait"
)

// Defaults applied by NewLimiter to zero LimiterOptions fields.
const (
	DefaultRatePerSecond  = 5
	DefaultBurst          = 5
	DefaultRateLimitPause = 30 * time.Second
	DefaultMaxPause       = 10 * time.Minute
)

// LimiterOptions tune a Limiter. The zero value uses the defaults above.
type LimiterOptions struct {
	// RatePerSecond and Burst bound the calls to Prolific's API.
	RatePerSecond float64
	Burst         int
	// Pause is how long every caller stops calling Prolific after a 429
	// that the client's own retries did not overcome (ErrRateLimited); it
	// doubles with each 429 that follows without a success between,
	// capped at MaxPause.
	Pause    time.Duration
	MaxPause time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Limiter is the one budget of calls to Prolific's API that everything in
// a process calling it on its own account shares (enrichment,
// reconciliation, rules' actions): a rate limit, and a pause for everyone
// after Prolific answered 429. Build one with NewLimiter and hand the same
// value to every part; each part then, around every API call:
//
//	if err := lim.Wait(ctx); err != nil { return err } // pause, then rate
//	_, err := client.Study(ctx, id)
//	switch {
//	case err == nil:
//		lim.Succeeded() // the next 429 pauses for Pause again
//	case errors.Is(err, prolific.ErrRateLimited):
//		retryAt := lim.RateLimited() // pauses every caller; retry no sooner
//	}
//
// Observe does the switch for a caller that has no use for the pause's end.
// A loop that should not even pick up work while paused waits with
// WaitPause. A Limiter is safe for concurrent use.
type Limiter struct {
	opts  LimiterOptions
	rate  *rate.Limiter
	mu    sync.Mutex
	until time.Time     // no call before this (after a 429)
	next  time.Duration // the next 429's pause; 0 means opts.Pause
}

// NewLimiter returns a Limiter with no pause in force.
func NewLimiter(opts LimiterOptions) *Limiter {
	opts.RatePerSecond = cmp.Or(max(opts.RatePerSecond, 0), DefaultRatePerSecond)
	opts.Burst = cmp.Or(max(opts.Burst, 0), DefaultBurst)
	opts.Pause = cmp.Or(max(opts.Pause, 0), DefaultRateLimitPause)
	opts.MaxPause = cmp.Or(max(opts.MaxPause, 0), DefaultMaxPause)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Limiter{opts: opts, rate: rate.NewLimiter(rate.Limit(opts.RatePerSecond), opts.Burst)}
}

// Wait blocks until one call to Prolific is allowed: after any 429 pause
// and within the rate limit. It fails only when ctx ends first.
func (l *Limiter) Wait(ctx context.Context) error {
	if err := l.WaitPause(ctx); err != nil {
		return err
	}
	if err := l.rate.Wait(ctx); err != nil {
		return fmt.Errorf("rate limiter: %w", err)
	}
	return nil
}

// WaitPause blocks until any 429 pause is over, without taking a call
// from the rate limit; it fails only when ctx ends first.
func (l *Limiter) WaitPause(ctx context.Context) error {
	if !ctxwait.Sleep(ctx, l.PausedUntil().Sub(l.opts.Now())) {
		return ctx.Err()
	}
	return nil
}

// PausedUntil returns when the current 429 pause ends; a time already
// past when none is in force.
func (l *Limiter) PausedUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until
}

// RateLimited records that Prolific answered 429 (ErrRateLimited): every
// caller's Wait pauses, and it returns when the pause ends.
func (l *Limiter) RateLimited() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next <= 0 {
		l.next = l.opts.Pause
	}
	if until := l.opts.Now().Add(l.next); until.After(l.until) {
		l.until = until
	}
	l.next = min(l.next*2, l.opts.MaxPause)
	return l.until
}

// Succeeded records a call Prolific answered: the next 429 pauses for
// Pause again instead of twice the last pause.
func (l *Limiter) Succeeded() {
	l.mu.Lock()
	l.next = 0
	l.mu.Unlock()
}

// Observe records a call's outcome: RateLimited when it is
// ErrRateLimited; Succeeded when err is nil or another answer from
// Prolific (a 404 shows it is not throttling us as much as a 200 does);
// nothing when the call got no answer (a network error).
func (l *Limiter) Observe(err error) {
	var answer *APIError
	switch {
	case errors.Is(err, ErrRateLimited):
		l.RateLimited()
	case err == nil, errors.As(err, &answer):
		l.Succeeded()
	}
}
