package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/prolific-receiver/receiver/internal/retryafter"
)

// DefaultTimeout bounds one Send, connection and answer included, unless
// WithTimeout says otherwise.
const DefaultTimeout = 10 * time.Second

// maxResponseBytes bounds what is read of a webhook's answer.
const maxResponseBytes = 64 << 10

// maxDetailBytes bounds the part of an answer quoted in an Error.
const maxDetailBytes = 300

// maxRetryAfter caps a server's Retry-After.
const maxRetryAfter = time.Hour

// Option configures a webhook sender (Slack, Teams).
type Option func(*webhook)

// WithHTTPClient sends through hc (its Transport and proxy settings). The
// sender never follows redirects, whatever hc says: a webhook that
// redirects is misconfigured, and following it would carry the message
// somewhere else.
func WithHTTPClient(hc *http.Client) Option {
	return func(w *webhook) {
		if hc != nil {
			c := *hc
			w.hc = &c
		}
	}
}

// WithTimeout bounds one Send (DefaultTimeout when d <= 0).
func WithTimeout(d time.Duration) Option {
	return func(w *webhook) {
		if d > 0 {
			w.timeout = d
		}
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(w *webhook) {
		if ua != "" {
			w.userAgent = ua
		}
	}
}

// webhook posts JSON to a URL that is itself a secret.
type webhook struct {
	channel   string
	url       string
	host      string
	secrets   []string // url and its secret parts, removed from any text
	hc        *http.Client
	timeout   time.Duration
	userAgent string
}

func newWebhook(channel, raw string, opts []Option) (*webhook, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		// Neither raw nor err is quoted: both may hold the token.
		return nil, fmt.Errorf("%s: webhook URL is not an absolute http(s) URL without user info", channel)
	}
	w := &webhook{
		channel:   channel,
		url:       u.String(),
		host:      u.Host,
		hc:        &http.Client{},
		timeout:   DefaultTimeout,
		userAgent: "prolific-receiver",
	}
	w.secrets = secretParts(raw, u)
	for _, opt := range opts {
		opt(w)
	}
	w.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return w, nil
}

// secretParts lists the strings that must never be shown: the URL as given
// and as normalised, its path and its query (longest first, so that
// redacting the URL happens before its parts).
func secretParts(raw string, u *url.URL) []string {
	parts := []string{raw, strings.TrimSpace(raw), u.String(), u.EscapedPath(), u.RawQuery}
	if u.Path != u.EscapedPath() {
		parts = append(parts, u.Path)
	}
	for _, v := range u.Query() {
		parts = append(parts, v...)
	}
	kept := parts[:0]
	for _, p := range parts {
		// "/" alone (or a tiny value) is not a secret and would mangle text.
		if len(p) >= 8 {
			kept = append(kept, p)
		}
	}
	// Longest first.
	for i := 1; i < len(kept); i++ {
		for j := i; j > 0 && len(kept[j]) > len(kept[j-1]); j-- {
			kept[j], kept[j-1] = kept[j-1], kept[j]
		}
	}
	return kept
}

func (w *webhook) redact(s string) string {
	for _, p := range w.secrets {
		s = strings.ReplaceAll(s, p, "[redacted]")
	}
	return s
}

// describe names the sender without its URL's path or query.
func (w *webhook) describe(kind string) string {
	return fmt.Sprintf("notify.%s{host: %q, url: [redacted]}", kind, w.host)
}

// post sends payload as JSON and classifies the answer.
func (w *webhook) post(ctx context.Context, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return &Error{Channel: w.channel, Permanent: true, Detail: "encode message: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &Error{Channel: w.channel, Permanent: true, Detail: "build request: " + w.transportDetail(err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.userAgent)
	resp, err := w.hc.Do(req)
	if err != nil {
		return &Error{Channel: w.channel, Detail: "post to " + w.host + ": " + w.transportDetail(err),
			cause: contextCause(ctx)}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		return nil
	}
	e := &Error{Channel: w.channel, Code: code, Detail: w.answerDetail(code, raw)}
	switch {
	case code == http.StatusTooManyRequests || code >= 500:
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		}
	case code >= 300 && code <= 399:
		e.Permanent = true
		e.Detail = http.StatusText(code) + ": redirect refused (check the webhook URL)"
	default:
		e.Permanent = true
	}
	return e
}

// transportDetail turns a transport error into text without the URL:
// *url.Error quotes the whole URL, so only its inner error is used, and
// whatever is left is redacted anyway.
func (w *webhook) transportDetail(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "timed out"
		}
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	return bounded(w.redact(err.Error()))
}

// answerDetail is the status text and the start of the body, one line.
func (w *webhook) answerDetail(code int, raw []byte) string {
	d := http.StatusText(code)
	if s := bounded(w.redact(string(raw))); s != "" {
		if d != "" {
			d += ": "
		}
		d += s
	}
	return d
}

// bounded flattens s to one printable line of at most maxDetailBytes.
func bounded(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if len(s) <= maxDetailBytes {
		return s
	}
	cut := maxDetailBytes
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// parseRetryAfter reads delay-seconds or an HTTP date, capped at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	return retryafter.Parse(v, now, maxRetryAfter)
}

// linkURL returns m.Link normalised when it is an absolute http(s) URL, else "".
func linkURL(link string) string {
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.String()
}

// truncateText cuts s to at most n bytes on a rune boundary, marking the cut.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "\n…(truncated)"
}
