package prolific

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// DefaultBaseURL is Prolific's API host (webhooks.md §0).
const DefaultBaseURL = "https://api.prolific.com"

// Defaults used by New unless an Option overrides them.
const (
	DefaultTimeout    = 15 * time.Second
	DefaultMaxRetries = 4
	DefaultRetryBase  = 500 * time.Millisecond
	DefaultRetryMax   = 20 * time.Second
	DefaultUserAgent  = "prolific-receiver"
)

// subscriptionsPageSize is the limit sent when listing subscriptions; the
// vendor CLI uses 200 too.
const subscriptionsPageSize = 200

// maxPages bounds every paging loop, whatever the server answers.
const maxPages = 1000

// Client calls Prolific's API. It is safe for concurrent use. Build it with New.
type Client struct {
	baseURL   string
	token     string
	hc        *http.Client
	timeout   time.Duration
	retries   int
	retryBase time.Duration
	retryMax  time.Duration
	userAgent string
	observe   func(endpoint string, code int)
	pageSize  int
	jitter    func(max time.Duration) time.Duration
}

// Option configures a Client in New.
type Option func(*Client)

// WithHTTPClient makes the client send requests through hc (its Transport,
// redirects and cookies). Its Timeout, if any, applies on top of WithTimeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithRetry sets how many times a failed request is retried (0 disables
// retries, so at most retries+1 attempts), the base of the exponential back-off and the longest single wait,
// which also caps a server's Retry-After.
func WithRetry(retries int, base, maxDelay time.Duration) Option {
	return func(c *Client) {
		c.retries = max(0, retries)
		if base > 0 {
			c.retryBase = base
		}
		if maxDelay > 0 {
			c.retryMax = maxDelay
		}
	}
}

// WithTimeout bounds every single attempt (not the whole call with its
// retries; use the context for that). Zero or less leaves the default.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithObserver registers fn to be called after every attempt with a bounded
// endpoint name such as "studies.get" and the HTTP status code, or 0 when no
// response arrived. Use it for metrics; it must be fast and safe for
// concurrent use.
func WithObserver(fn func(endpoint string, code int)) Option {
	return func(c *Client) { c.observe = fn }
}

// WithUserAgent sets the User-Agent header, e.g. "prolific-receiver/1.2.3".
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// New returns a client for the API at baseURL (DefaultBaseURL when empty)
// that authenticates with token.
func New(baseURL, token string, opts ...Option) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	c := &Client{
		baseURL:   strings.TrimRight(baseURL, "/"),
		token:     token,
		hc:        &http.Client{},
		timeout:   DefaultTimeout,
		retries:   DefaultMaxRetries,
		retryBase: DefaultRetryBase,
		retryMax:  DefaultRetryMax,
		userAgent: DefaultUserAgent,
		pageSize:  subscriptionsPageSize,
		jitter:    fullJitter,
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// String describes the client without its token.
func (c *Client) String() string {
	return fmt.Sprintf("prolific.Client{baseURL: %q, token: %s}", c.baseURL, redacted(c.token))
}

// GoString is String, so that %#v cannot print the token either.
func (c *Client) GoString() string { return c.String() }

func redacted(s string) string {
	if s == "" {
		return "(none)"
	}
	return "[redacted]"
}
