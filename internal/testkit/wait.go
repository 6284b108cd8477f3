package testkit

import (
	"testing"
	"time"
)

// WaitFor checks cond every poll until it holds, and fails the test,
// naming what it waited for, when within has passed first.
func WaitFor(t testing.TB, what string, within, poll time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(poll)
	}
}

// Stopped waits up to within for what, told to stop (its context
// cancelled), to return its result on done. It reports an error result or
// one that does not come, and returns whether it stopped cleanly.
func Stopped(t testing.TB, done <-chan error, what string, within time.Duration) bool {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s returned %v after it was told to stop, want nil", what, err)
			return false
		}
		return true
	case <-time.After(within):
		t.Errorf("%s did not stop within %s", what, within)
		return false
	}
}
