package handlers

import (
	"errors"
	"io"
	"net/http"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// verified is a request that passed verification: the exact body and what
// the signature check learnt.
type verified struct {
	body             []byte
	requestTimestamp string
	result           verify.Result
}

// verifyDelivery reads the body within the size limit and checks the
// Prolific signature and timestamp before anything decodes the JSON; next
// gets the verified delivery.
func verifyDelivery(d *webhookDeps, next func(http.ResponseWriter, *http.Request, *verified)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sig := r.Header.Get(prolific.HeaderSignature)
		ts := r.Header.Get(prolific.HeaderRequestTimestamp)
		if hs := r.Header.Get(prolific.HeaderHookSecret); hs != "" && sig == "" && ts == "" {
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
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, d.MaxBodyBytes))
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
		d.Metrics.SignatureForm.WithLabelValues(string(res.Form)).Inc()
		d.Metrics.SignatureAge.Observe(max(res.Age.Seconds(), 0))
		next(w, r, &verified{body: body, requestTimestamp: ts, result: res})
	}
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
