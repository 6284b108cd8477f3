package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestSubcommandHelp: -h prints each subcommand's own usage, then its flags,
// and is a usage exit (2).
func TestSubcommandHelp(t *testing.T) {
	for cmd, flagName := range map[string]string{"bootstrap": "-rotate-secret", "send": "-secret-file",
		"healthcheck": "-url", "studies": "-watch", "events": "-follow", "reconcile": "-dry-run", "outputs": "-admin-url"} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"receiver", cmd, "-h"}, &stdout, &stderr)
		if !errors.Is(err, flag.ErrHelp) || exitCode(err) != 2 {
			t.Errorf("%s -h = %v (exit %d), want flag.ErrHelp (exit 2)", cmd, err, exitCode(err))
		}
		out := stderr.String()
		usage, flags, ok := strings.Cut(out, "flags:\n")
		if !ok || !strings.HasPrefix(usage, "usage: receiver "+cmd+" ") || !strings.Contains("\n"+flags, "\n  "+flagName) {
			t.Errorf("%s -h printed:\n%s\nwant its usage, then its flags (%s among them)", cmd, out, flagName)
		}
	}
}

// TestSubcommandsRefuseArguments: the subcommands that take only flags
// refuse a positional argument as a usage error naming it.
func TestSubcommandsRefuseArguments(t *testing.T) {
	for _, cmd := range []string{"studies", "events", "reconcile"} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"receiver", cmd, "-admin-url", "http://127.0.0.1:1", "stray"}, &out, &out)
		want := cmd + `: unexpected argument "stray"`
		if err == nil || err.Error() != want || exitCode(err) != 2 {
			t.Errorf("%s stray = %v (exit %d), want %q (exit 2)", cmd, err, exitCode(err), want)
		}
	}
}
