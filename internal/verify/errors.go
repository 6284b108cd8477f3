package verify

import "errors"

// The sentinel errors returned by Verify and ParseTimestamp. Callers match
// them with errors.Is. Their messages never include a secret, a signature or
// any other request-controlled value, so they are safe to log and to count.
var (
	// ErrNoSecret means Verify was given no secret to check against; it is
	// a configuration problem on our side, not the sender's.
	ErrNoSecret = errors.New("verify: no webhook secret configured")
	// ErrNoSignature means the signature header was missing or empty.
	ErrNoSignature = errors.New("verify: missing signature")
	// ErrBadSignatureEncoding means the signature was not standard, padded
	// base64 of exactly 32 bytes (an HMAC-SHA256).
	ErrBadSignatureEncoding = errors.New("verify: signature is not base64 of a 32-byte HMAC-SHA256")
	// ErrNoTimestamp means the timestamp header was missing or empty.
	ErrNoTimestamp = errors.New("verify: missing timestamp")
	// ErrBadTimestamp means the timestamp header could not be parsed as a
	// UNIX time (see ParseTimestamp).
	ErrBadTimestamp = errors.New("verify: unparseable timestamp")
	// ErrNoValidSignature means no secret produced the given signature over
	// any of the accepted message forms.
	ErrNoValidSignature = errors.New("verify: no valid signature")
	// ErrTooOld means the signature was valid but the timestamp is further
	// in the past than the tolerance allows.
	ErrTooOld = errors.New("verify: timestamp too old")
	// ErrTooNew means the signature was valid but the timestamp is further
	// in the future than the tolerance allows.
	ErrTooNew = errors.New("verify: timestamp too far in the future")
)
