package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/prolific-receiver/receiver/internal/bootstrap"
)

func runBootstrap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rotate := fs.Bool("rotate-secret", false, "replace the workspace's signing secret (running receivers keep accepting the old one for RECEIVER_SECRET_GRACE)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: receiver bootstrap [-rotate-secret] [-json]

Registers the receiver with Prolific: checks the wanted event types exist,
reads the workspace's signing secret (creating one only if there is none),
and makes sure one enabled, confirmed subscription per event type delivers to
RECEIVER_PUBLIC_URL. Safe to run again: a second run changes nothing.
Needs PROLIFIC_API_TOKEN, PROLIFIC_WORKSPACE_ID and RECEIVER_PUBLIC_URL.

flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if cfg.APIToken == "" {
		return errors.New("bootstrap: set PROLIFIC_API_TOKEN (or PROLIFIC_API_TOKEN_FILE)")
	}
	log, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	bcfg := bootstrapConfig(cfg)
	bcfg.RotateSecret = *rotate
	sum, err := bootstrap.Run(ctx, newProlificClient(cfg, nil), bcfg, log)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	fmt.Fprint(stdout, sum.String())
	if sum.SecretAction == bootstrap.SecretRotated {
		fmt.Fprintf(stdout, "\nThe signing secret was rotated. Running receivers with PROLIFIC_API_TOKEN pick up the new one\nwithin minutes (at once on the first delivery signed with it) and accept the old one for %s.\n", cfg.SecretGrace)
	}
	return nil
}
