// Command receiver receives Prolific's webhooks, verifies and stores them
// durably, keeps a live picture of studies and submissions, and serves it as
// Prometheus metrics, a JSON API and a dashboard. Run `receiver help` for the
// subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/prolific-receiver/receiver/internal/loadgen"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "receiver:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError marks a command-line mistake (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// command is one subcommand: its name, one line for the help, and its body.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "receive webhooks and serve the admin API (the default)", runServe},
		{"bootstrap", "register and confirm the webhook subscriptions with Prolific", runBootstrap},
		{"send", "sign and post a sample event to a receiver, as Prolific would", runSend},
		{"studies", "show the studies of a running receiver as a table", runStudies},
		{"events", "print a running receiver's stored events as JSON lines, oldest first (-follow for new ones)", runEvents},
		{"reconcile", "recover what webhooks missed from Prolific's API, through a running receiver (-study, -subscription, -since, -dry-run)", runReconcile},
		{"outputs", "list a running receiver's outputs; retry, pause or resume one", runOutputs},
		{"rules", "check a rules file, test it on an event, list the rule actions taken (history)", runRules},
		{"loadgen", "send signed load to a receiver and report throughput and latency", loadgen.Main},
		{"healthcheck", "exit 0 when a running receiver is ready (for container HEALTHCHECKs)", runHealthcheck},
		{"version", "print the version", runVersion},
	}
}

// run is the whole program: main only adds the process's signals and exit
// code, so tests can run it in-process. Configuration comes from the
// environment (envconfig), read once by the subcommand that needs it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	rest := args[1:]
	name := "serve"
	if len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
		name, rest = rest[0], rest[1:]
	}
	if name == "help" {
		printUsage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, rest, stdout, stderr)
		}
	}
	printUsage(stderr)
	return usageError{fmt.Sprintf("unknown command %q", name)}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: receiver <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nConfiguration is read from the environment; see README.md. Run 'receiver <command> -h' for flags.")
}

func runVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "receiver", version)
	return nil
}
