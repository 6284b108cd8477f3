package handlers

import (
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// verified is a request that passed verification: the exact body, what
// the signature check learnt, and the receiver's clock when it checked.
type verified struct {
	body             []byte
	requestTimestamp string
	result           verify.Result
	now              time.Time
}

// The headers the webhook path reads, as http.Header keys them, so a
// look-up is one map access (Header.Get canonicalises its argument each
// time, and "X-Event-ID" is not canonical: that costs an allocation).
var (
	keySignature        = textproto.CanonicalMIMEHeaderKey(prolific.HeaderSignature)
	keyRequestTimestamp = textproto.CanonicalMIMEHeaderKey(prolific.HeaderRequestTimestamp)
	keyHookSecret       = textproto.CanonicalMIMEHeaderKey(prolific.HeaderHookSecret)
	keyEventID          = textproto.CanonicalMIMEHeaderKey(prolific.HeaderEventID)
	keyTimestamp        = textproto.CanonicalMIMEHeaderKey(prolific.HeaderTimestamp)
)

// header returns the first value of h[key], key in canonical form, as
// h.Get would.
func header(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// verifyDelivery reads the body within the size limit and checks the
// Prolific signature and timestamp before anything decodes the JSON; next
// gets the verified delivery.
func verifyDelivery(d *webhookDeps, next func(http.ResponseWriter, *http.Request, verified)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sig := header(r.Header, keySignature)
		ts := header(r.Header, keyRequestTimestamp)
		if hs := header(r.Header, keyHookSecret); hs != "" && sig == "" && ts == "" {
			// Not documented as a delivery, but answered like REST Hooks in case
			// Prolific ever handshakes: echo the header, store nothing.
			d.Log.Debug().Msg("answered an X-Hook-Secret handshake request")
			w.Header().Set(prolific.HeaderHookSecret, hs)
			w.WriteHeader(http.StatusOK)
			return
		}
		if sig == "" || ts == "" {
			// Refused before the body is read, so an unsigned sender cannot
			// make the receiver buffer a body per connection.
			err := verify.ErrNoSignature
			if sig != "" {
				err = verify.ErrNoTimestamp
			}
			reason := failureReason(err)
			d.Metrics.VerificationFailures.WithLabelValues(reason).Inc()
			reject(d, w, r, "", rejection{status: http.StatusUnauthorized, reason: reason, msg: publicVerifyMessage(err), err: err})
			return
		}
		if r.ContentLength > d.MaxBodyBytes {
			reject(d, w, r, "", rejection{status: http.StatusRequestEntityTooLarge, reason: "too_large",
				msg: "body larger than the configured limit"})
			return
		}
		body, err := readBody(w, r, d.MaxBodyBytes)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				reject(d, w, r, "", rejection{status: http.StatusRequestEntityTooLarge, reason: "too_large",
					msg: "body larger than the configured limit"})
				return
			}
			reject(d, w, r, "", rejection{status: http.StatusBadRequest, reason: "unreadable_body",
				msg: "could not read the request body", err: err})
			return
		}
		now := d.now()
		res, err := verify.Verify(sig, ts, body, d.Keyring.Secrets(now), now, d.Tolerance)
		if errors.Is(err, verify.ErrNoSecret) {
			// Our configuration fault, not the sender's: make Prolific retry.
			reject(d, w, r, "", rejection{status: http.StatusServiceUnavailable, reason: "no_secret",
				msg: "receiver has no signing secret yet; retry later", err: err})
			return
		}
		if err != nil {
			reason := failureReason(err)
			d.Metrics.VerificationFailures.WithLabelValues(reason).Inc()
			if errors.Is(err, verify.ErrNoValidSignature) {
				d.OnBadSignature()
			}
			reject(d, w, r, "", rejection{status: http.StatusUnauthorized, reason: reason,
				msg: publicVerifyMessage(err), err: err})
			return
		}
		d.Metrics.form(res.Form).Inc()
		d.Metrics.SignatureAge.Observe(max(res.Age.Seconds(), 0))
		next(w, r, verified{body: body, requestTimestamp: ts, result: res, now: now})
	}
}

// readBody reads a body of at most limit bytes (a larger one is an
// *http.MaxBytesError). A body whose length the sender declared, as
// Prolific does, is read into a buffer of exactly that size; one sent in
// chunks grows as it comes, through http.MaxBytesReader. The buffer
// becomes the event's body, which the store may keep, so it is never
// reused.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	n := r.ContentLength
	if n < 0 || n > limit {
		return io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		return nil, err
	}
	return body, nil
}

// failureReason maps a verification error to a bounded metric label.
func failureReason(err error) string {
	switch {
	case errors.Is(err, verify.ErrNoSignature):
		return "missing_signature"
	case errors.Is(err, verify.ErrBadSignatureEncoding):
		return "malformed_signature"
	case errors.Is(err, verify.ErrNoTimestamp):
		return "missing_timestamp"
	case errors.Is(err, verify.ErrBadTimestamp):
		return "bad_timestamp"
	case errors.Is(err, verify.ErrTooOld):
		return "too_old"
	case errors.Is(err, verify.ErrTooNew):
		return "too_new"
	default:
		return "bad_signature"
	}
}

// publicVerifyMessage tells the sender what was wrong without helping a forger.
func publicVerifyMessage(err error) string {
	switch {
	case errors.Is(err, verify.ErrNoSignature):
		return "missing X-Prolific-Request-Signature header"
	case errors.Is(err, verify.ErrBadSignatureEncoding):
		return "X-Prolific-Request-Signature is not a base64 HMAC-SHA256"
	case errors.Is(err, verify.ErrNoTimestamp):
		return "missing X-Prolific-Request-Timestamp header"
	case errors.Is(err, verify.ErrBadTimestamp):
		return "X-Prolific-Request-Timestamp is not a UNIX timestamp"
	case errors.Is(err, verify.ErrTooOld), errors.Is(err, verify.ErrTooNew):
		return "X-Prolific-Request-Timestamp is outside the accepted window"
	default:
		return "signature does not match"
	}
}
