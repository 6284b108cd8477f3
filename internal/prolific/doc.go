// Package prolific holds the receiver's side of Prolific's contract: the
// webhook payload types (events.go) and a small client for the parts of
// Prolific's REST API the receiver uses — hooks (event types, secrets,
// subscriptions, delivery log), studies and submissions, and the actions
// rules may take (actions.go: transition a study, add participants to a
// participant group, bulk-approve submissions).
//
// The client sends `Authorization: Token <token>`, keeps the documented
// trailing slashes, bounds every attempt with a timeout, and retries 429, 5xx
// and network failures with capped exponential back-off and full jitter,
// honouring Retry-After. Failures are *APIError values that match the
// sentinels ErrUnauthorized, ErrNotFound and ErrRateLimited with errors.Is;
// IsPermanent tells a refusal that repeating cannot fix from a passing failure.
// Neither errors nor the client's String form ever contain the API token.
package prolific
