// Package notify sends short messages to people: Slack (incoming webhook),
// Microsoft Teams (workflow webhook) and e-mail over SMTP.
//
// Every channel implements Sender. Send makes exactly one attempt and
// never retries by itself: whoever calls it (the rules engine, with its
// leased jobs and back-off) decides whether and when to try again, and
// IsPermanent tells it when another attempt cannot help:
//
//   - HTTP channels: 2xx is done; 429 and 5xx are retryable (RetryAfter
//     reports the server's Retry-After); any other 4xx, a redirect, or a
//     URL that cannot be used is permanent; a network failure or timeout is
//     retryable.
//   - SMTP: a 4yz reply, a network failure or a timeout is retryable; a 5yz
//     reply (bad recipient, authentication refused, message rejected) and a
//     TLS certificate the sender does not trust are permanent.
//
// Secrets stay out of errors and of the senders' String forms: a webhook
// URL carries its token in the path (Slack) or the query (Teams' sig=), so
// errors name only the channel and the URL's host; the SMTP password is
// removed from every error text. A sender never logs.
//
// A note on retrying a webhook after a timeout: the service may have posted
// the message before the answer was lost, so a retry can show it twice.
// That is the lesser evil for a notification; actions that must happen
// exactly once (Prolific calls) do not go through this package.
package notify
