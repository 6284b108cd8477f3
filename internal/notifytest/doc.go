// Package notifytest holds local stand-ins for the services package notify
// talks to, for tests and the demo: Sink, an HTTP endpoint that accepts
// Slack incoming-webhook and Teams workflow-webhook posts, records them and
// can print them; and SMTPServer, a loopback mail server with STARTTLS or
// implicit TLS on a self-signed certificate and AUTH PLAIN, which records
// every message it accepts. Both can be told to fail, to test retries.
package notifytest
