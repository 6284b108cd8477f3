package prolifictest

import (
	"net/http"
	"time"
)

// Create-subscription response body shapes (webhooks.md §1 #5: the reference
// schema and the vendor CLI disagree).
const (
	// ShapeObject answers POST /hooks/subscriptions/ with one SubscriptionDetail
	// object carrying a top-level id, as the vendor CLI expects.
	ShapeObject = "object"
	// ShapeResults answers with {"results": [SubscriptionDetail]}, as the
	// OpenAPI reference schema says.
	ShapeResults = "results"
)

// Options configures a Fake. The zero value is usable but has no tokens (every
// request gets 401) and no workspaces.
type Options struct {
	// Tokens are the API tokens accepted in "Authorization: Token <t>".
	Tokens []string
	// Workspaces are the workspace IDs that exist; any other workspace_id is 404.
	Workspaces []string
	// Secrets optionally seeds a workspace's signing secret (workspace ID →
	// value), as if POST /hooks/secrets/ had been called.
	Secrets map[string]string
	// AllowHTTPTargets lets target_url be http:// and point at loopback or
	// private hosts, for tests. Without it a target must be https:// and must
	// not name localhost or a loopback address, as Prolific requires.
	AllowHTTPTargets bool
	// CreateResponseShape is ShapeObject (default) or ShapeResults.
	CreateResponseShape string
	// Inject, when set, runs before every routed request; returning ok makes
	// the fake answer with that status in Prolific's error shape instead
	// (429 answers carry Retry-After). It runs after FailNext.
	Inject func(r *http.Request) (status int, ok bool)
	// RetryAfter is the Retry-After header value sent with injected 429s;
	// "" means "1".
	RetryAfter string
	// RateLimit, when above zero, limits the API to this many requests per
	// second with bursts of RateBurst (at least 1), across every route and
	// token: a request over the limit is answered 429 with Retry-After (whole
	// seconds until one would pass). Zero means no limit.
	RateLimit float64
	RateBurst int
	// MaxCalls bounds the call record (Calls, GET /_fake/calls) to the most
	// recent calls; default 10,000.
	MaxCalls int
	// OnCall, when set, is called with every recorded call once answered
	// (e.g. to print the actions a demo's rules take). It must be safe for
	// concurrent use.
	OnCall func(Call)

	// TimeScale divides every delivery back-off delay and the simulation's
	// Duration: 60000 turns Prolific's 1 minute first retry into 1 ms.
	// Values <= 0 mean 1 (real time).
	TimeScale float64
	// DeliveryTimeout bounds one delivery attempt (connect, send, response
	// headers); exceeding it counts as a failed attempt. It is not scaled.
	// Default 10 s.
	DeliveryTimeout time.Duration
	// MaxRetries is the number of retries after the first attempt; default 11
	// (12 attempts), negative means no retries.
	MaxRetries int
	// RetryBase is the cap of the first retry's back-off before scaling; the
	// cap doubles for each later retry. Default 1 minute.
	RetryBase time.Duration
	// Workers bounds concurrent delivery attempts; default 8.
	Workers int
	// Client sends deliveries; default a client without proxy that does not
	// follow redirects (a 3xx is a failed attempt).
	Client *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logf, when set, receives one line per delivery attempt. Secrets and
	// signatures are never passed to it.
	Logf func(format string, args ...any)
}

func (o Options) withDefaults() Options {
	if o.CreateResponseShape == "" {
		o.CreateResponseShape = ShapeObject
	}
	if o.MaxCalls <= 0 {
		o.MaxCalls = defaultMaxCalls
	}
	if o.RetryAfter == "" {
		o.RetryAfter = "1"
	}
	if o.TimeScale <= 0 {
		o.TimeScale = 1
	}
	if o.DeliveryTimeout <= 0 {
		o.DeliveryTimeout = 10 * time.Second
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 11
	} else if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Client == nil {
		o.Client = &http.Client{
			Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// scale divides d by the configured TimeScale.
func (o Options) scale(d time.Duration) time.Duration {
	return time.Duration(float64(d) / o.TimeScale)
}
