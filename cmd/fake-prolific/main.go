// Command fake-prolific runs the fake Prolific from internal/prolifictest as a
// process: the hooks, study and submission API on -addr, a delivery engine
// that signs and retries webhooks like Prolific, and optionally a simulated
// study once a subscription has been confirmed.
//
// For demos of the receiver's rules it also prints every action a client
// takes (study transitions, participant-group additions, bulk approvals),
// serves the call record on /_fake/calls, accepts Slack- and Teams-shaped
// webhook posts on /_sink/ and prints each message (-sink), and can run a
// plain SMTP server that prints each mail (-smtp-sink ADDR).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake-prolific:", err)
		os.Exit(1)
	}
}
