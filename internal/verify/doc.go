// Package verify proves that a webhook delivery came from Prolific.
//
// It is a set of pure functions over header values and raw bytes, with no
// net/http: the handler reads X-Prolific-Request-Signature,
// X-Prolific-Request-Timestamp and the body, and calls Verify with the
// accepted secrets (from a Keyring during rotations) and the clock. Sign
// produces signatures for tests, the fake Prolific and the load generator.
//
// # The signed message
//
// Prolific signs base64(HMAC-SHA256(secret, timestamp + message)), with the
// timestamp header string used verbatim. What "message" is, is not settled
// by public evidence (webhooks.md §2.2): the documentation's only code signs
// Python's json.dumps of the parsed body, while most receivers in the wild
// sign the raw bytes. If Prolific sends json.dumps output as the body, both
// agree. Verify therefore accepts a signature over any of three forms, tried
// in order:
//
//   - FormRaw: the body bytes exactly as received. Expected to match nearly
//     always; costs one HMAC per secret and no parsing.
//   - FormPython: PythonDumps(body), reproducing json.dumps(json.loads(body))
//     with Python's defaults (", " and ": " separators, ASCII-only output,
//     original key order). Built only when the raw form fails.
//   - FormCompact: Compact(body), whitespace removed, as a JavaScript sender
//     would produce. The least likely form.
//
// The two re-serialised forms are tried only for bodies of at most
// MaxFallbackBytes (64 KiB): building them costs far more than the raw
// form's HMAC, and a sender without the secret could otherwise make every
// refused 1 MiB body cost tens of milliseconds.
//
// Every form is keyed by the secret, so accepting several does not let
// anybody without the secret forge a delivery. Result.Form says which form
// matched; recording it as a metric lets production traffic settle the
// question, after which the unused forms can be dropped.
//
// # Timestamps
//
// The timestamp's unit is undocumented too, so ParseTimestamp reads integer
// seconds, decimal seconds and milliseconds. Prolific may retry a failed
// delivery for about 24 hours, possibly with its original headers, so
// DefaultTolerance accepts timestamps up to 26 hours old and 5 minutes ahead;
// replay protection comes from X-Event-ID deduplication in the store. The
// window is checked only after a signature matched.
//
// # Errors and secrets
//
// Every failure is one of the package's sentinel errors (ErrNoSignature,
// ErrTooOld, ...), matched with errors.Is. No error message contains a secret,
// a signature or the timestamp header, so errors may be logged as they are.
package verify
