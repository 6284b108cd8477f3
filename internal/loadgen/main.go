// Package loadgen drives signed, realistic Prolific webhook deliveries at a
// receiver and measures what came back: throughput, latency percentiles,
// status codes and network errors. It runs a closed loop (N connections as
// fast as possible) or an open loop (a fixed rate, latency measured from the
// scheduled send time), always bounded by a duration or a count, and only
// against loopback targets unless told otherwise. Main is the
// `receiver loadgen` subcommand; Run is the library form used by tests and
// the benchmark harness.
package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/prolific-receiver/receiver/internal/flagset"
)

// SecretEnv is the environment variable the secret is read from when no flag names one.
const SecretEnv = "PROLIFIC_WEBHOOK_SECRET"

const usage = `Usage: receiver loadgen [flags]
       receiver loadgen check -admin URL -acked FILE   (see: receiver loadgen check -h)
       receiver loadgen presign -count N -out FILE     (see: receiver loadgen presign -h)

Sends signed, unique Prolific webhook deliveries to the receiver and reports
throughput, latency percentiles (p50 p90 p99 p99.9 max), status codes and
network errors. Without -rate it runs a closed loop (-connections senders as
fast as possible); with -rate it runs an open loop that schedules requests at
fixed intervals and measures latency from the scheduled time. It stops after
-duration or -count, whichever comes first, and refuses to run unbounded.

The secret comes from -secret, -secret-file or $PROLIFIC_WEBHOOK_SECRET and
is never printed. Targets must be loopback unless -allow-remote is given.

Examples:
  receiver loadgen -duration 10s -connections 64
  receiver loadgen -rate 1000 -duration 10s -json
  receiver loadgen -count 5000 -duplicates 0.1 -acked acked.txt \
      -url http://127.0.0.1:8080/hooks/prolific,http://127.0.0.1:8081/hooks/prolific

Flags:
`

// Main runs the loadgen subcommand: args are the flags after "loadgen"
// ("check" first runs CheckAcked instead, see checkcmd.go). The
// report goes to stdout (a table, or JSON with -json); a start line goes to
// stderr. Cancelling ctx (SIGINT) ends the run early, still printing the
// report and flushing the -acked file.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "check" {
		return checkMain(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "presign" {
		return presignMain(ctx, args[1:], stdout, stderr)
	}
	fs := flagset.New("loadgen", usage, stderr)
	var (
		urls        = fs.String("url", "http://127.0.0.1:8080/hooks/prolific", "webhook `URL`s, comma-separated; requests go round-robin")
		readSecret  = secretFlags(fs)
		connections = fs.Int("connections", 64, "concurrent senders and keep-alive connections per target")
		rate        = fs.Float64("rate", 0, "open loop: events per `second` (0: closed loop)")
		duration    = fs.Duration("duration", 10*time.Second, "stop after this long (0: no time limit)")
		count       = fs.Int64("count", 0, "stop after this many requests (0: no count limit)")
		duplicates  = fs.Float64("duplicates", 0, "`fraction` of requests that re-send an earlier event (0..1)")
		studies     = fs.Int("studies", 50, "number of studies the events are spread over")
		timeout     = fs.Duration("timeout", 10*time.Second, "per-request timeout")
		lateAfter   = fs.Duration("late-after", 5*time.Millisecond, "open loop: a send further behind schedule counts as late")
		asJSON      = fs.Bool("json", false, "print the report as JSON")
		ackedPath   = fs.String("acked", "", "write every event ID that got a 2xx to `FILE`, one per line")
		allowRemote = fs.Bool("allow-remote", false, "allow targets that are not loopback addresses")
	)
	if run, err := parseFlags(fs, args, false); !run {
		return err
	}
	key, err := readSecret()
	if err != nil {
		return err
	}
	cfg := Config{
		Secret:      key,
		Connections: *connections,
		Rate:        *rate,
		Duration:    *duration,
		Count:       *count,
		Duplicates:  *duplicates,
		Studies:     *studies,
		Timeout:     *timeout,
		LateAfter:   *lateAfter,
		AllowRemote: *allowRemote,
	}
	cfg.Targets = splitTargets(*urls)
	if _, err := cfg.withDefaults(); err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	if *ackedPath != "" {
		f, err := os.Create(*ackedPath)
		if err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		defer f.Close()
		cfg.Acked = f
	}
	mode := "closed loop"
	if cfg.Rate > 0 {
		mode = fmt.Sprintf("open loop at %g/s", cfg.Rate)
	}
	fmt.Fprintf(stderr, "loadgen: %s, %d connections, %d target(s), duration %s, count %d\n",
		mode, cfg.Connections, len(cfg.Targets), cfg.Duration, cfg.Count)

	rep, err := Run(ctx, cfg)
	if err != nil {
		return err
	}
	return writeReport(stdout, rep, *asJSON, cfg.Acked)
}

// loadSecret picks the secret from the flag, the file, or the environment,
// in that order, trimming a trailing newline from the file.
func loadSecret(flagValue, file string) (string, error) {
	switch {
	case flagValue != "":
		return flagValue, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("loadgen: read secret file: %w", err)
		}
		if s := strings.TrimRight(string(b), "\r\n"); s != "" {
			return s, nil
		}
		return "", fmt.Errorf("loadgen: secret file %s is empty", file)
	case os.Getenv(SecretEnv) != "":
		return os.Getenv(SecretEnv), nil
	}
	return "", fmt.Errorf("loadgen: no webhook secret: set -secret-file or $%s", SecretEnv)
}

// splitTargets returns the comma-separated URLs of -url, blanks dropped.
func splitTargets(urls string) []string {
	var targets []string
	for u := range strings.SplitSeq(urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			targets = append(targets, u)
		}
	}
	return targets
}

// writeReport prints rep as a table or JSON, then syncs the file of
// acknowledged IDs (when one was written) so it survives a crash after.
func writeReport(stdout io.Writer, rep Report, asJSON bool, acked io.Writer) error {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
	} else if err := rep.WriteTable(stdout); err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	if f, ok := acked.(*os.File); ok {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("loadgen: sync acked file: %w", err)
		}
	}
	return nil
}
