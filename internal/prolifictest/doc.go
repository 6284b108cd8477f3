// Package prolifictest is a fake Prolific for tests, demos and benchmarks.
//
// It is an independent implementation of the wire contract described in
// shared/prolific/webhooks.md and the vendor's OpenAPI document: the hooks API
// (event types, secrets, subscriptions with X-Hook-Secret confirmation, the
// delivery log), the study, submission and submission-counts endpoints, a
// delivery engine that signs, times out and retries like Prolific (exponential
// back-off with full jitter, scaled by Options.TimeScale), and a study
// simulation that walks participants through their submission statuses while
// emitting the matching webhooks.
//
// Where Prolific's behaviour is undocumented the fake picks the reading that
// is strictest for a client and says so in the doc comment concerned.
package prolifictest
