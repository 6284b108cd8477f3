// Package retryafter reads an HTTP Retry-After header, as both Prolific's
// API and the notification channels (Slack, Teams) send it.
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Parse reads v, delay-seconds or an HTTP date (a date in the past is 0),
// capped at ceiling. ok is false when v is empty, negative or neither form.
func Parse(v string, now time.Time, ceiling time.Duration) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(ceiling/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), ceiling), true
	}
	return 0, false
}
