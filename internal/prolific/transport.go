package prolific

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prolific-receiver/receiver/internal/backoff"
	"github.com/prolific-receiver/receiver/internal/ctxwait"
	"github.com/prolific-receiver/receiver/internal/retryafter"
)

// Response size limits: success bodies are decoded whole, error bodies only
// need enough for the message.
const (
	maxBodyBytes  = 16 << 20
	maxErrorBytes = 64 << 10
)

// call describes one API request.
type call struct {
	endpoint string // bounded route name for errors and metrics
	method   string
	path     string // with its trailing slash, path segments already escaped
	query    url.Values
	body     any
	// create marks a POST that creates something. Retrying it after an
	// ambiguous failure (timeout, connection reset, 500/502/504) could create
	// a duplicate, so such calls are retried only when the server surely did
	// not act: 429, 503, or a connection that was never established.
	create bool
}

// result is a successful response.
type result struct {
	status int
	header http.Header
	body   []byte
}

// do sends cl, retrying as the client is configured, and returns the first
// 2xx response.
func (c *Client) do(ctx context.Context, cl call) (result, error) {
	if err := checkPath(cl.path); err != nil {
		return result{}, fmt.Errorf("prolific %s: %w", cl.endpoint, err)
	}
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return result{}, fmt.Errorf("prolific %s: encode request: %w", cl.endpoint, err)
		}
	}
	for attempt := 0; ; attempt++ {
		res, retryAfter, retryable, err := c.attempt(ctx, cl, payload)
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil && retryable {
			// Cancelled while (or right after) a failing attempt: say so,
			// as when cancelled during the back-off.
			return result{}, fmt.Errorf("prolific %s: %w before a retry after: %w", cl.endpoint, ctx.Err(), err)
		}
		if !retryable || attempt >= c.retries {
			if attempt > 0 {
				err = fmt.Errorf("%w (gave up after %d attempts)", err, attempt+1)
			}
			return result{}, err
		}
		if !ctxwait.Sleep(ctx, c.backoff(attempt, retryAfter)) {
			return result{}, fmt.Errorf("prolific %s: %w while waiting to retry after: %w", cl.endpoint, ctx.Err(), err)
		}
	}
}

// attempt sends one request. retryAfter is the server's Retry-After (-1 when
// absent) and retryable says whether another attempt may help and is safe.
func (c *Client) attempt(ctx context.Context, cl call, payload []byte) (res result, retryAfter time.Duration, retryable bool, err error) {
	retryAfter = -1
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	u := c.baseURL + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u, body)
	if err != nil {
		return res, retryAfter, false, c.netError(cl, err)
	}
	req.Header.Set("Authorization", "Token "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		c.observed(cl.endpoint, 0)
		return res, retryAfter, !cl.create || neverConnected(err), c.netError(cl, err)
	}
	defer resp.Body.Close()
	c.observed(cl.endpoint, resp.StatusCode)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			retryAfter = d
		}
		return res, retryAfter, retryableStatus(resp.StatusCode, cl.create), parseAPIError(cl.endpoint, resp.StatusCode, raw, c.token)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		// The server acted; only a read/idempotent call may be repeated.
		return res, retryAfter, !cl.create, c.netError(cl, fmt.Errorf("read response: %w", err))
	}
	return result{status: resp.StatusCode, header: resp.Header, body: raw}, retryAfter, false, nil
}

func (c *Client) observed(endpoint string, code int) {
	if c.observe != nil {
		c.observe(endpoint, code)
	}
}

// netError wraps a transport failure with the endpoint and hides the token.
func (c *Client) netError(cl call, err error) error {
	return &redactedError{err: fmt.Errorf("prolific %s: %w", cl.endpoint, err), token: c.token}
}

// retryableStatus: 429 and 503 mean "not processed, come back later" and are
// always safe; other 5xx are ambiguous for creates; other 4xx never help.
func retryableStatus(code int, create bool) bool {
	switch {
	case code == http.StatusTooManyRequests, code == http.StatusServiceUnavailable:
		return true
	case code >= 500:
		return !create
	}
	return false
}

// neverConnected reports whether err happened before a connection existed
// (DNS failure, connection refused), so the server cannot have seen the request.
func neverConnected(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// backoff returns how long to wait before retry number attempt+1: the
// server's Retry-After when it sent one, otherwise a full-jitter draw from
// [0, base·2^attempt]; both capped at the client's maximum delay.
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter >= 0 {
		return min(retryAfter, c.retryMax)
	}
	return c.jitter(backoff.Bound(c.retryBase, c.retryMax, attempt+1))
}

func fullJitter(ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date,
// at most a day.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	return retryafter.Parse(v, now, 24*time.Hour)
}

// decode unmarshals a success body into out, naming the endpoint on failure.
func decode(endpoint string, body []byte, out any) error {
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("prolific %s: decode response: %w", endpoint, err)
	}
	return nil
}

// ErrBadPathID means a call was refused before it was sent because an ID
// in its path was empty, "." or "..": url.PathEscape keeps dots, so such an
// ID would make the request (with the token) name another resource.
var ErrBadPathID = errors.New(`an ID in the request path is empty, "." or ".."`)

// checkPath refuses a path with an empty, "." or ".." segment between its
// leading and trailing slashes.
func checkPath(p string) error {
	segs := strings.Split(strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/"), "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return ErrBadPathID
		}
	}
	return nil
}
