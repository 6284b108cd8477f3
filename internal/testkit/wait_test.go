package testkit

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fatalTB records Errorf and Fatalf calls instead of failing the test;
// Fatalf ends f (see run) as testing's ends the test.
type fatalTB struct {
	testing.TB
	msgs []string
}

func (r *fatalTB) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, "error: "+strings.TrimSpace(format))
}

func (r *fatalTB) Fatalf(format string, args ...any) {
	r.msgs = append(r.msgs, "fatal: "+strings.TrimSpace(format))
	panic(r)
}

// run calls f with r and returns what it reported.
func (r *fatalTB) run(f func(t testing.TB)) (msgs []string) {
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
		msgs = r.msgs
	}()
	f(r)
	return nil
}

func TestWaitFor(t *testing.T) {
	var n atomic.Int32
	rec := &fatalTB{TB: t}
	if msgs := rec.run(func(tb testing.TB) {
		WaitFor(tb, "three polls", time.Second, time.Millisecond, func() bool { return n.Add(1) >= 3 })
	}); len(msgs) != 0 || n.Load() != 3 {
		t.Errorf("WaitFor reported %q after %d checks, want nothing after 3", msgs, n.Load())
	}
	rec = &fatalTB{TB: t}
	start := time.Now()
	msgs := rec.run(func(tb testing.TB) {
		WaitFor(tb, "never", 30*time.Millisecond, time.Millisecond, func() bool { return false })
	})
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0], "fatal: timed out") || time.Since(start) < 30*time.Millisecond {
		t.Errorf("WaitFor(never) reported %q after %v, want one timeout after 30ms", msgs, time.Since(start))
	}
}

func TestStopped(t *testing.T) {
	for _, tc := range []struct {
		name   string
		result func(chan error)
		want   bool
		report string
	}{
		{"clean", func(c chan error) { c <- nil }, true, ""},
		{"error", func(c chan error) { c <- errors.New("boom") }, false, "error: %s returned %v"},
		{"never", func(chan error) {}, false, "error: %s did not stop"},
	} {
		done := make(chan error, 1)
		tc.result(done)
		rec := &fatalTB{TB: t}
		var got bool
		msgs := rec.run(func(tb testing.TB) { got = Stopped(tb, done, "worker", 20*time.Millisecond) })
		if got != tc.want || (tc.report == "") != (len(msgs) == 0) || (tc.report != "" && !strings.HasPrefix(msgs[0], tc.report)) {
			t.Errorf("%s: Stopped = %v reporting %q, want %v reporting %q", tc.name, got, msgs, tc.want, tc.report)
		}
	}
}
