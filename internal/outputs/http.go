package outputs

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Sign returns the Standard Webhooks signature header value for a message:
// "v1," and the base64 HMAC-SHA256, under key, of "id.timestamp.body".
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, timestamp, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// HTTP posts each message to a URL, signed in the Standard Webhooks form.
type HTTP struct {
	url       string
	key       []byte
	client    *http.Client
	now       func() time.Time
	userAgent string
}

// NewHTTP returns the destination s describes; userAgent names the
// receiver and its version. now is the clock of webhook-timestamp (nil:
// time.Now).
func NewHTTP(s HTTPSettings, userAgent string, now func() time.Time) *HTTP {
	if now == nil {
		now = time.Now
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = DefaultConcurrency
	return &HTTP{url: s.URL, key: s.Key, now: now, userAgent: userAgent, client: &http.Client{
		Timeout:   s.Timeout,
		Transport: transport,
		// A redirect is the destination's misconfiguration: retried and
		// shown, never followed with the signed body.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// maxResponseBody is how much of an answer is read (so the connection is
// reused) and how much of it an error quotes at most.
const (
	maxResponseBody = 64 << 10
	maxQuoted       = 200
)

// Deliver posts body. 2xx is delivered; 410 is ErrGone; any other answer
// or a transport failure (a timeout included) is a *RetryError, with the
// answer's Retry-After for 429 and 503. Errors never hold the URL (it may
// carry credentials), the secret or the signature.
func (h *HTTP) Deliver(ctx context.Context, m Message, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("build request: invalid URL")
	}
	ts := h.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", h.userAgent)
	req.Header.Set("webhook-id", m.EventID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(h.key, m.EventID, ts, body))
	resp, err := h.client.Do(req)
	if err != nil {
		return &RetryError{Reason: transportReason(err)}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusGone:
		return ErrGone
	}
	quoted := answer
	if len(quoted) > maxQuoted {
		quoted = quoted[:maxQuoted]
	}
	re := &RetryError{Reason: fmt.Sprintf("destination answered %d %s: %q", resp.StatusCode, http.StatusText(resp.StatusCode), quoted)}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		re.After = retryAfter(resp.Header.Get("Retry-After"), h.now())
	}
	return re
}

// Close releases idle connections.
func (h *HTTP) Close() error {
	h.client.CloseIdleConnections()
	return nil
}

// transportReason describes a failed request without its URL.
func transportReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return "timed out waiting for the destination"
	}
	return "request failed: " + err.Error()
}

// maxRetryAfter caps what a destination's Retry-After can ask for.
const maxRetryAfter = 6 * time.Hour

// retryAfter parses a Retry-After value: seconds or an HTTP date; 0 when
// absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(0, t.Sub(now)), maxRetryAfter)
	}
	return 0
}
