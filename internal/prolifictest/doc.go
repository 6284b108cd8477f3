// Package prolifictest is a fake Prolific for tests, demos and benchmarks.
//
// It is an independent implementation of the wire contract described in
// shared/prolific/webhooks.md and the vendor's OpenAPI document: the hooks API
// (event types, secrets, subscriptions with X-Hook-Secret confirmation, the
// delivery log), the study, submission and submission-counts endpoints, the
// actions a lab's rules take (study transitions, participant-group members,
// bulk approval; actions.go, with Prolific's rules: PAUSE only from ACTIVE,
// approve only AWAITING REVIEW, groups ignore members already present), a
// delivery engine that signs, times out and retries like Prolific (exponential
// back-off with full jitter, scaled by Options.TimeScale), and a study
// simulation that walks participants through their submission statuses while
// emitting the matching webhooks (and honouring a pause made through the API).
//
// Every API request is kept in a call record (Fake.Calls, and GET
// /_fake/calls without a token) so tests and demos can see what a client
// did; Options.RateLimit answers 429 with Retry-After past a burst.
//
// Where Prolific's behaviour is undocumented the fake picks the reading that
// is strictest for a client and says so in the doc comment concerned.
package prolifictest
