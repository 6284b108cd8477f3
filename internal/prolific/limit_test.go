package prolific_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

// epoch is the fake clock's start.
var epoch = time.Unix(1_800_000_000, 0)

// TestLimiterPauseDoublesUntilASuccess: each 429 without a success between
// pauses twice as long as the last, up to MaxPause; a success starts over.
func TestLimiterPauseDoublesUntilASuccess(t *testing.T) {
	now, t0 := epoch, epoch
	lim := prolific.NewLimiter(prolific.LimiterOptions{Pause: time.Second, MaxPause: 3 * time.Second,
		Now: func() time.Time { return now }})
	if got := lim.PausedUntil(); got.After(t0) {
		t.Fatalf("PausedUntil before any 429 = %v, want none in force", got)
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
		if got := lim.RateLimited(); !got.Equal(t0.Add(want)) {
			t.Errorf("429 #%d: pause ends %v, want %v", i+1, got.Sub(t0), want)
		}
	}
	// A 429 never shortens the pause in force.
	lim.Succeeded()
	if got := lim.RateLimited(); !got.Equal(t0.Add(3 * time.Second)) {
		t.Errorf("429 after a success during a pause: pause ends %v, want the pause in force (3s)", got.Sub(t0))
	}
	// After a success the next pause is Pause again.
	now = t0.Add(time.Minute)
	lim.Observe(nil)
	if got := lim.RateLimited(); !got.Equal(now.Add(time.Second)) {
		t.Errorf("429 after a success: pause %v, want 1s", got.Sub(now))
	}
	t1 := t0.Add(time.Hour)
	later := prolific.NewLimiter(prolific.LimiterOptions{Pause: time.Second, Now: func() time.Time { return t1 }})
	later.Observe(fmt.Errorf("study: %w", prolific.ErrRateLimited))
	if got := later.PausedUntil(); !got.Equal(t1.Add(time.Second)) {
		t.Errorf("Observe(ErrRateLimited): pause ends %v, want 1s", got.Sub(t1))
	}
	later.Observe(errors.New("connection refused"))
	if got := later.PausedUntil(); !got.Equal(t1.Add(time.Second)) {
		t.Errorf("Observe(other error) moved the pause to %v", got.Sub(t1))
	}
	// An answer that is not a 429 (a 404 here) resets the doubling as a
	// success does; an error without an answer does not.
	later.Observe(fmt.Errorf("call: %w", errors.New("connection reset")))
	if got := later.RateLimited(); !got.Equal(t1.Add(2 * time.Second)) {
		t.Errorf("429 after a network error: pause ends %v, want doubled (2s)", got.Sub(t1))
	}
	later.Observe(fmt.Errorf("look up: %w", &prolific.APIError{StatusCode: 404, Endpoint: "submissions.get"}))
	if got := later.RateLimited(); !got.Equal(t1.Add(2 * time.Second)) {
		t.Errorf("429 after a 404 during a pause: pause ends %v, want the pause in force (2s)", got.Sub(t1))
	}
	t1 = t1.Add(time.Minute)
	later.Observe(fmt.Errorf("look up: %w", &prolific.APIError{StatusCode: 404, Endpoint: "submissions.get"}))
	if got := later.RateLimited(); !got.Equal(t1.Add(time.Second)) {
		t.Errorf("429 after a 404: pause %v, want 1s (the doubling starts over)", got.Sub(t1))
	}
}

// TestLimiterPausesEveryCaller: a 429 one caller reports holds back
// every other caller's Wait until the pause ends.
func TestLimiterPausesEveryCaller(t *testing.T) {
	lim := prolific.NewLimiter(prolific.LimiterOptions{RatePerSecond: 1000, Burst: 10, Pause: 150 * time.Millisecond})
	if err := lim.Wait(context.Background()); err != nil {
		t.Fatalf("Wait without a pause: %v", err)
	}
	lim.RateLimited()
	start := time.Now()
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- lim.Wait(context.Background()) }()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
	if took := time.Since(start); took < 140*time.Millisecond {
		t.Errorf("Wait during a 150ms pause returned after %v", took)
	}

	lim.RateLimited()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := lim.WaitPause(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitPause with a context ending during the pause = %v, want %v", err, context.DeadlineExceeded)
	}
}

// TestLimiterRate: calls beyond the burst wait for the rate.
func TestLimiterRate(t *testing.T) {
	lim := prolific.NewLimiter(prolific.LimiterOptions{RatePerSecond: 20, Burst: 1})
	start := time.Now()
	for range 4 {
		if err := lim.Wait(context.Background()); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
	if took := time.Since(start); took < 140*time.Millisecond {
		t.Errorf("4 calls at 20/s with burst 1 took %v, want at least 150ms", took)
	}
}
