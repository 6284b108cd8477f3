package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/bootstrap"
	"github.com/prolific-receiver/receiver/internal/flagset"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storeopen"
)

// bootstrapUsage is `receiver bootstrap -h`.
const bootstrapUsage = `usage: receiver bootstrap [-rotate-secret] [-json]

Registers the receiver with Prolific: checks the wanted event types exist,
reads the workspace's signing secret (creating one only if there is none),
and makes sure one enabled, confirmed subscription per event type delivers to
RECEIVER_PUBLIC_URL. Safe to run again: a second run changes nothing.
Needs PROLIFIC_API_TOKEN, PROLIFIC_WORKSPACE_ID and RECEIVER_PUBLIC_URL.
With RECEIVER_STORE set to the replicas' PostgreSQL, it first takes the
bootstrap lock they share, so it never runs at the same time as a starting
replica's bootstrap.

flags:`

func runBootstrap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagset.New("bootstrap", bootstrapUsage, stderr)
	rotate := fs.Bool("rotate-secret", false, "replace the workspace's signing secret (running receivers keep accepting the old one for RECEIVER_SECRET_GRACE)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
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
	unlock := lockSharedBootstrap(ctx, cfg.Store, log)
	sum, err := bootstrap.Run(ctx, newProlificClient(cfg, nil), bcfg, log)
	unlock()
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

// storeOpenTimeout bounds how long the one-off bootstrap tries to reach the
// replicas' PostgreSQL for their lock.
const storeOpenTimeout = 10 * time.Second

// lockSharedBootstrap takes, for the one-off command, the lock replicas on
// a PostgreSQL store take around their start-up bootstrap (lockBootstrap),
// so that an operator's `receiver bootstrap` and a starting replica do not
// both find no signing secret and each create one. A SQLite store has no
// replicas to share it with and is not opened (nor created). When the
// database cannot be reached the bootstrap runs without the lock, as a
// replica does: it converges, at the cost of a secret rotation in that race.
func lockSharedBootstrap(ctx context.Context, dsn string, log zerolog.Logger) func() {
	if !storeopen.IsPostgres(dsn) {
		return func() {}
	}
	octx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
	st, err := storeopen.Open(octx, dsn, store.Options{})
	cancel()
	if err != nil {
		log.Warn().Err(err).Msg("could not open the store for the bootstrap lock shared with replicas; bootstrapping without it")
		return func() {}
	}
	unlock := lockBootstrap(ctx, st, log)
	return func() {
		unlock()
		st.Close()
	}
}
