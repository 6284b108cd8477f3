// Package outputs forwards stored events to the lab's own systems: it
// reads the outputs file (RECEIVER_OUTPUTS_FILE), and runs one worker per
// output that claims the rows the store's transactional outbox queued with
// each event and delivers them, over HTTP signed as Standard Webhooks or to
// NATS JetStream, at least once, retrying with back-off up to a maximum
// age, then dead-lettering. See docs/outputs.md.
package outputs
