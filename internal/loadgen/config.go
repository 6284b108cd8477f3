package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config describes one load run. Either Duration or Count (or both) must be
// set: a run always ends by itself.
type Config struct {
	// Targets are the webhook URLs; requests go round-robin across them.
	Targets []string
	// Secret signs every request. It is never printed.
	Secret string
	// Connections is the number of concurrent senders (and keep-alive
	// connections per target). Default 64.
	Connections int
	// Rate, when > 0, selects the open loop: requests are scheduled at
	// fixed intervals of 1/Rate seconds and latency is measured from the
	// scheduled time. When 0 the closed loop sends as fast as Connections allow.
	Rate float64
	// Duration stops the run after this long (0: no time limit).
	Duration time.Duration
	// Count stops the run after this many requests (0: no count limit).
	Count int64
	// Duplicates is the fraction (0..1) of requests that re-send an earlier
	// event unchanged (same ID and body, freshly signed), to another target
	// when there are several.
	Duplicates float64
	// Studies is how many studies the events are spread over. Default 50.
	Studies int
	// Timeout bounds each request. Default 10s.
	Timeout time.Duration
	// LateAfter is how far behind its schedule an open-loop request may be
	// sent before it counts as late. Default 5ms.
	LateAfter time.Duration
	// AllowRemote permits targets that are not loopback addresses.
	AllowRemote bool
	// Acked, if set, receives the X-Event-ID of every event that got a 2xx,
	// once per ID, one per line. Run flushes it before returning.
	Acked io.Writer
	// Seed makes the generated studies and IDs reproducible; 0 picks one at random.
	Seed uint64
}

// ErrUnbounded is returned when neither a duration nor a count limits the run.
var ErrUnbounded = errors.New("run is unbounded: set a duration or a count")

// ErrNotLoopback is returned for a target outside loopback without AllowRemote.
var ErrNotLoopback = errors.New("target is not a loopback address (use -allow-remote to permit)")

// withDefaults returns c with defaults filled in, or an error if it cannot run.
func (c Config) withDefaults() (Config, error) {
	if c.Duration <= 0 && c.Count <= 0 {
		return c, ErrUnbounded
	}
	if c.Duration < 0 || c.Count < 0 {
		return c, errors.New("duration and count must not be negative")
	}
	if len(c.Targets) == 0 {
		return c, errors.New("no target URL")
	}
	if c.Secret == "" {
		return c, errors.New("no webhook secret")
	}
	if c.Rate < 0 {
		return c, errors.New("rate must not be negative")
	}
	if c.Duplicates < 0 || c.Duplicates >= 1 {
		return c, errors.New("duplicates must be in [0, 1)")
	}
	if c.Connections <= 0 {
		c.Connections = 64
	}
	if c.Studies <= 0 {
		c.Studies = 50
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.LateAfter <= 0 {
		c.LateAfter = 5 * time.Millisecond
	}
	for _, t := range c.Targets {
		if err := checkTarget(t, c.AllowRemote); err != nil {
			return c, err
		}
	}
	return c, nil
}

// checkTarget accepts an http(s) URL whose host is a loopback IP or
// "localhost", or any host when allowRemote is set.
func checkTarget(raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("target %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("target %q: scheme must be http or https", raw)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("target %q: no host", raw)
	}
	if allowRemote || IsLoopback(host) {
		return nil
	}
	return fmt.Errorf("target %q: %w", raw, ErrNotLoopback)
}

// IsLoopback reports whether host (without port) is "localhost" or a loopback IP.
// It does not resolve names, so a name that merely points at 127.0.0.1 is refused.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
