package prolific

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"
)

// Sentinels an *APIError matches with errors.Is.
var (
	// ErrUnauthorized means Prolific rejected the token (401) or refused the
	// action for it (403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound means the resource (or workspace) does not exist for this token (404).
	ErrNotFound = errors.New("not found")
	// ErrRateLimited means Prolific answered 429 and retries did not help.
	ErrRateLimited = errors.New("rate limited")
)

// maxDetail bounds the detail kept from an error body; bodies that are not
// Prolific's JSON error shape (HTML from a proxy, say) are truncated to it.
const maxDetail = 512

// APIError is a non-2xx answer from Prolific.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// ErrorCode is Prolific's internal error_code, 0 when the body had none.
	ErrorCode int
	// Title is Prolific's error title, or the HTTP status text.
	Title string
	// Detail is Prolific's detail flattened to one line (strings joined with
	// "; ", field errors as "field: message"), or the truncated raw body.
	Detail string
	// Endpoint is the bounded route name, e.g. "hooks.subscriptions.create".
	Endpoint string
}

// Error returns e.g. `prolific studies.get: 404 Not Found: Study not found.`.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "prolific %s: %d", e.Endpoint, e.StatusCode)
	if e.Title != "" {
		b.WriteString(" " + e.Title)
	}
	if e.ErrorCode != 0 {
		fmt.Fprintf(&b, " (error_code %d)", e.ErrorCode)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// Is reports whether e matches one of the package sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// parseAPIError builds an APIError from a non-2xx response body. It
// understands Prolific's documented {"error": {...}} shape, the flat
// {"message": ..., "detail": ...} form the vendor CLI handles, and anything
// else as truncated text. Every copy of token in the body is redacted.
func parseAPIError(endpoint string, status int, body []byte, token string) *APIError {
	e := &APIError{StatusCode: status, Endpoint: endpoint}
	var wrapped struct {
		Error *struct {
			ErrorCode int             `json:"error_code"`
			Title     string          `json:"title"`
			Detail    json.RawMessage `json:"detail"`
		} `json:"error"`
	}
	var flat struct {
		Message string          `json:"message"`
		Title   string          `json:"title"`
		Detail  json.RawMessage `json:"detail"`
	}
	switch {
	case json.Unmarshal(body, &wrapped) == nil && wrapped.Error != nil:
		e.ErrorCode = wrapped.Error.ErrorCode
		e.Title = wrapped.Error.Title
		e.Detail = flattenDetail(wrapped.Error.Detail)
	case json.Unmarshal(body, &flat) == nil && (flat.Message != "" || len(flat.Detail) > 0 || flat.Title != ""):
		e.Title = flat.Title
		parts := []string{flat.Message, flattenDetail(flat.Detail)}
		e.Detail = joinNonEmpty(parts, ": ")
	default:
		e.Detail = strings.Join(strings.Fields(string(body)), " ")
	}
	if e.Title == "" {
		e.Title = http.StatusText(status)
	}
	e.Title = truncate(redact(e.Title, token), maxDetail)
	e.Detail = truncate(redact(e.Detail, token), maxDetail)
	return e
}

// flattenDetail turns Prolific's detail (a string, an array of strings, or an
// object of field → messages) into one line.
func flattenDetail(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return strings.TrimSpace(string(raw))
	}
	return flattenValue(v)
}

func flattenValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		parts := make([]string, 0, len(v))
		for _, item := range v {
			parts = append(parts, flattenValue(item))
		}
		return joinNonEmpty(parts, "; ")
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			if s := flattenValue(v[k]); s != "" {
				parts = append(parts, k+": "+strings.ReplaceAll(s, "; ", ", "))
			}
		}
		return strings.Join(parts, "; ")
	default:
		return fmt.Sprint(v)
	}
}

func joinNonEmpty(parts []string, sep string) string {
	kept := parts[:0:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(truncated)"
}

// redact removes every occurrence of secret from s. Servers and proxies
// sometimes echo request headers in error bodies; the token must not travel
// on into logs from there.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}

// redactedError hides the token in an error's text while keeping the chain
// (errors.Is / errors.As) intact.
type redactedError struct {
	err   error
	token string
}

func (r *redactedError) Error() string { return redact(r.err.Error(), r.token) }
func (r *redactedError) Unwrap() error { return r.err }

// GoString keeps %#v from printing the token field.
func (r *redactedError) GoString() string { return r.Error() }
