package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// Form names the message that a signature was found to cover. Recording it
// (as a metric label or a log field) lets production traffic settle which
// form Prolific really signs; see the package documentation.
type Form string

// The accepted message forms, tried in this order.
const (
	// FormRaw is timestamp + the body bytes exactly as received.
	FormRaw Form = "raw"
	// FormPython is timestamp + the body re-serialised the way Python's
	// json.dumps does by default (see PythonDumps).
	FormPython Form = "python"
	// FormCompact is timestamp + the body with insignificant whitespace
	// removed (see Compact), as JavaScript's JSON.stringify would produce.
	FormCompact Form = "compact"
)

// Tolerance bounds how far a signed timestamp may lie from the receiver's
// clock. A zero or negative field disables that side of the check.
type Tolerance struct {
	// Past is the largest accepted age: now - timestamp.
	Past time.Duration
	// Future is the largest accepted lead: timestamp - now.
	Future time.Duration
}

// DefaultTolerance accepts timestamps up to 26 hours old, because Prolific may
// re-send a failed delivery with its original headers for about 24 hours, and
// up to 5 minutes ahead for clock skew (webhooks.md §2.3). Replays inside the
// window are caught by X-Event-ID deduplication, not here.
var DefaultTolerance = Tolerance{Past: 26 * time.Hour, Future: 5 * time.Minute}

// Result describes a successful verification.
type Result struct {
	// Form is the message form the signature covered.
	Form Form
	// Timestamp is the parsed signed timestamp.
	Timestamp time.Time
	// Age is now - Timestamp; negative when the timestamp is in the future.
	Age time.Duration
	// SecretIndex is the index in the secrets slice of the secret that
	// produced the signature: 0 is normally the current one.
	SecretIndex int
	// Message is what the signature covers after the timestamp: the body
	// itself for FormRaw (not a copy), its re-serialisation for the other
	// forms. Every body that verifies through some form against one signed
	// message yields the same Message, so timestamp + Message names the
	// signed content whatever spacing the body arrived with.
	Message []byte
}

// Verify checks a Prolific webhook delivery: signature and timestamp are the
// X-Prolific-Request-Signature and X-Prolific-Request-Timestamp header values,
// body is the request body exactly as read, secrets are the accepted secrets
// (current first; empty strings are ignored), now is the receiver's clock and
// tol the accepted skew. With no non-empty secret Verify returns ErrNoSecret
// before looking at the request.
//
// The signature must be base64(HMAC-SHA256(secret, timestamp + message)),
// where timestamp is the header string verbatim and message is, in order of
// preference, the raw body (FormRaw), PythonDumps(body) (FormPython) or
// Compact(body) (FormCompact); the last two only for a body of at most
// MaxFallbackBytes. Each secret is tried for a form before the next
// form is built, so the re-serialisations run only when the raw body fails.
// Comparisons are constant-time.
//
// The timestamp's freshness is checked only once a signature matched, so an
// unsigned request learns nothing about the window. With ErrTooOld and
// ErrTooNew the Result is still filled in, since the signature was good, so
// the caller can log the observed age; with every other error it is zero. Errors are the sentinels
// in this package, possibly wrapped; none mentions a secret or the signature.
func Verify(signature, timestamp string, body []byte, secrets []string, now time.Time, tol Tolerance) (Result, error) {
	if !hasSecret(secrets) {
		return Result{}, ErrNoSecret
	}
	if signature == "" {
		return Result{}, ErrNoSignature
	}
	if timestamp == "" {
		return Result{}, ErrNoTimestamp
	}
	ts, err := ParseTimestamp(timestamp)
	if err != nil {
		return Result{}, err
	}
	var want [sha256.Size]byte
	if !decodeSignature(signature, &want) {
		return Result{}, ErrBadSignatureEncoding
	}

	form, msg, idx, ok := match(&want, timestamp, body, secrets)
	if !ok {
		return Result{}, ErrNoValidSignature
	}
	res := Result{Form: form, Timestamp: ts, Age: now.Sub(ts), SecretIndex: idx, Message: msg}
	// Times are compared, not durations: Age saturates for a timestamp
	// centuries away, and negating the saturated minimum overflows.
	if tol.Past > 0 && ts.Before(now.Add(-tol.Past)) {
		return res, ErrTooOld
	}
	if tol.Future > 0 && ts.After(now.Add(tol.Future)) {
		return res, ErrTooNew
	}
	return res, nil
}

// decodeSignature decodes standard padded base64 of exactly sha256.Size bytes
// into dst, without allocating.
func decodeSignature(sig string, dst *[sha256.Size]byte) bool {
	if len(sig) != base64.StdEncoding.EncodedLen(sha256.Size) {
		return false
	}
	var src [44]byte // EncodedLen(sha256.Size); an array keeps it off the heap
	copy(src[:], sig)
	var buf [sha256.Size + 2]byte
	n, err := base64.StdEncoding.Decode(buf[:], src[:])
	if err != nil || n != sha256.Size {
		return false
	}
	copy(dst[:], buf[:n])
	return true
}

// MaxFallbackBytes is the largest body whose re-serialised forms
// (FormPython, FormCompact) are tried; a larger body must be signed as sent
// (FormRaw). Building those forms costs 10 to 25 times what the raw form's
// HMAC does (docs/hostile-input.md), all of it spent before an unsigned
// sender is refused, so the bound keeps a 1 MiB body from costing tens of
// milliseconds. Prolific's bodies are a few hundred bytes.
const MaxFallbackBytes = 64 << 10

// match tries every secret over the raw body, then, for a body of at most
// MaxFallbackBytes, over the Python and compact re-serialisations, skipping
// a form whose bytes equal one already tried. It reports the first form
// that produces want, that form's message, and the secret's index.
func match(want *[sha256.Size]byte, timestamp string, body []byte, secrets []string) (Form, []byte, int, bool) {
	if i, ok := matchAny(want, timestamp, body, secrets); ok {
		return FormRaw, body, i, true
	}
	if len(body) > MaxFallbackBytes {
		return "", nil, 0, false
	}
	py, err := PythonDumps(body)
	if err != nil {
		// Not JSON: no re-serialisation can exist, and Compact would fail too.
		return "", nil, 0, false
	}
	if !bytes.Equal(py, body) {
		if i, ok := matchAny(want, timestamp, py, secrets); ok {
			return FormPython, py, i, true
		}
	}
	compact, err := Compact(body)
	if err != nil || bytes.Equal(compact, body) || bytes.Equal(compact, py) {
		return "", nil, 0, false
	}
	if i, ok := matchAny(want, timestamp, compact, secrets); ok {
		return FormCompact, compact, i, true
	}
	return "", nil, 0, false
}

// matchAny reports the index of the first secret whose HMAC over ts + msg
// equals want. Empty secrets are skipped: an empty HMAC key is one anybody
// can sign with.
func matchAny(want *[sha256.Size]byte, ts string, msg []byte, secrets []string) (int, bool) {
	for i, secret := range secrets {
		if secret == "" {
			continue
		}
		m := getMAC(secret)
		ok := hmac.Equal(m.sum(ts, msg), want[:])
		putMAC(secret, m)
		if ok {
			return i, true
		}
	}
	return -1, false
}

// hasSecret reports whether secrets holds at least one non-empty secret.
func hasSecret(secrets []string) bool {
	for _, s := range secrets {
		if s != "" {
			return true
		}
	}
	return false
}
