package retryafter

import (
	"testing"
	"time"
)

// The forms themselves (seconds, dates, blanks, junk) are tested through
// the Prolific client's parseRetryAfter; here, the ceiling.
func TestParseCapsAtTheCeiling(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"59":                            59 * time.Second,
		"7200":                          time.Hour,
		"99999999999999999":             time.Hour,
		"Wed, 01 Jan 2025 12:00:10 GMT": 10 * time.Second,
		"Thu, 02 Jan 2025 12:00:00 GMT": time.Hour,
		"Wed, 01 Jan 2025 11:00:00 GMT": 0,
	} {
		if got, ok := Parse(in, now, time.Hour); got != want || !ok {
			t.Errorf("Parse(%q, ceiling 1h) = %v, %v, want %v, true", in, got, ok, want)
		}
	}
	if _, ok := Parse("-1", now, time.Hour); ok {
		t.Error("Parse(-1) ok, want refused")
	}
}
