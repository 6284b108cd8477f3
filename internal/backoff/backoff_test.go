package backoff

import (
	"math"
	"testing"
	"time"
)

func TestBound(t *testing.T) {
	const base, most = time.Second, time.Hour
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{
		{-1, time.Second}, {0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second},
		{12, 2048 * time.Second}, {13, time.Hour}, {30, time.Hour}, {63, time.Hour}, {64, time.Hour}, {math.MaxInt, time.Hour},
	} {
		if got := Bound(base, most, tc.attempt); got != tc.want {
			t.Errorf("Bound(1s, 1h, %d) = %v, want %v", tc.attempt, got, tc.want)
		}
	}
	if got := Bound(time.Minute, time.Second, 1); got != time.Second {
		t.Errorf("Bound(1m, 1s, 1) = %v, want the cap 1s", got)
	}
	// Doubling a large base would overflow int64 nanoseconds: the cap holds.
	if got := Bound(time.Duration(math.MaxInt64/2), time.Duration(math.MaxInt64), 3); got != time.Duration(math.MaxInt64) {
		t.Errorf("Bound near overflow = %v, want the cap", got)
	}
}
