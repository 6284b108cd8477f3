// Package backoff holds the exponential bound every retry shares
// (enrichment jobs, output deliveries, the Prolific client, rule actions):
// each spreads its retries below it with its own jitter.
package backoff

import "time"

// Bound is the longest wait before the retry that follows failed attempt
// number attempt (1 for the first): base·2^(attempt-1), capped at ceiling, also
// where the doubling would overflow. An attempt below 1 counts as the first.
// base and ceiling are positive.
func Bound(base, ceiling time.Duration, attempt int) time.Duration {
	n := max(attempt, 1) - 1
	if n >= 63 || base > ceiling>>n {
		return ceiling
	}
	return base << n
}
