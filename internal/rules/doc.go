// Package rules is the receiver's rules engine (docs/rules.md): a rules
// file of triggers and actions, evaluated after events are committed (never
// before the acknowledgement), each decision recorded once in the store
// under its key (rule, action, resource, trigger window) together with the
// evaluator's place in the change feed, and carried out under the store's
// leases: notifications (Slack, Teams, e-mail, with digests), pausing or
// stopping a study, adding participants to a group, approving submissions,
// forwarding to an output. RECEIVER_ACTIONS decides whether anything is
// sent (dry-run by default).
package rules
