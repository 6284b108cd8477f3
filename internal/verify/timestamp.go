package verify

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// millisThreshold is the value above which a timestamp is read as
// milliseconds: 1e12 seconds is the year 33658, 1e12 milliseconds is 2001.
const millisThreshold = 1e12

// maxTimestampLen bounds the header we are willing to parse; a UNIX time in
// milliseconds with a fraction fits comfortably.
const maxTimestampLen = 64

// MaxTime is the latest instant ParseTimestamp accepts: the end of the year
// 9999, the last one RFC 3339 (and so JSON, the stores and the read API) can
// write. Anything later is refused, so it never reaches storage.
var MaxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)

// ParseTimestamp parses an X-Prolific-Request-Timestamp header value leniently,
// because Prolific does not document its unit or format (webhooks.md §2.3):
// an integer is seconds since the UNIX epoch, a decimal such as Python's
// str(time.time()) is fractional seconds, and any value above 1e12 is taken
// to be milliseconds. Surrounding spaces are ignored. Signs, exponents,
// non-finite and out-of-range values (after MaxTime) are rejected. Errors
// wrap ErrBadTimestamp.
//
// The freshness check uses the parsed value only; the signature is always
// computed over the header string exactly as received.
func ParseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return time.Time{}, fmt.Errorf("%w: empty", ErrBadTimestamp)
	case len(s) > maxTimestampLen:
		return time.Time{}, fmt.Errorf("%w: too long", ErrBadTimestamp)
	case !isDecimal(s):
		return time.Time{}, fmt.Errorf("%w: not a decimal number", ErrBadTimestamp)
	}
	if !strings.Contains(s, ".") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: out of range", ErrBadTimestamp)
		}
		t := time.Unix(n, 0).UTC()
		if n > millisThreshold {
			t = time.UnixMilli(n).UTC()
		}
		return inRange(t)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: out of range", ErrBadTimestamp)
	}
	if f > millisThreshold {
		f /= 1000
	}
	// Beyond this float64 seconds no longer fit an int64 of nanoseconds for
	// time.Unix's fraction arithmetic; no real timestamp comes close.
	if f > 1e15 {
		return time.Time{}, fmt.Errorf("%w: out of range", ErrBadTimestamp)
	}
	sec, frac := math.Modf(f)
	return inRange(time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC())
}

// inRange refuses a time after MaxTime.
func inRange(t time.Time) (time.Time, error) {
	if t.After(MaxTime) {
		return time.Time{}, fmt.Errorf("%w: after the year 9999", ErrBadTimestamp)
	}
	return t, nil
}

// isDecimal reports whether s is digits with at most one '.' and at least one
// digit. Only that shape is accepted, so that signs and strconv's extras
// ("inf", "0x1p3", "1e9", "1_000") are refused before parsing.
func isDecimal(s string) bool {
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}
