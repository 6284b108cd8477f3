// Command rules measures what ten rules cost the whole receiver
// (docs/rules.md; its figures are kept in bench/rules/results.md, which
// `make bench` appends to bench/results.md, "Ten rules through the whole receiver").
//
// Each round starts `receiver serve` (a built binary) on a fresh SQLite
// database on free loopback ports, with no rules file or with the ten rules
// of ten-rules.yaml (RECEIVER_ACTIONS=dry-run: every action is decided and
// recorded as in live, nothing is sent), drives it with `receiver loadgen`
// (closed loop), and then waits until the rules engine has caught up: its
// cursor at the newest event and no pending action due. The receiver's CPU
// (/proc/PID/stat utime+stime) is counted from the start of the load until
// then, and at least until -settle after the load (the same for both cases,
// long enough for the digests' first messages, due 20 s after their first
// event, to be carried out). Variants alternate round by round, so a busy
// shared host hits them alike. CPU per acknowledged event is the figure to
// trust on a shared machine; events/s is printed too. Even rounds run the
// variants in reverse order. With -rate the load
// is an open loop at a fixed rate every variant sustains: the webhook path
// then does the same work in each (the same batches), and the difference
// in CPU per event is the engine's.
//
// With -live the ten-rules receivers act (RECEIVER_ACTIONS=live) with a
// message sink in this process and no Prolific token (live.go).
//
//	go run ./bench/rules -rounds 3                 # builds ./cmd/receiver
//	go run ./bench/rules -receiver bin/receiver -before /tmp/old-receiver
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

//go:embed ten-rules.yaml
var tenRules []byte

// variant is one case measured: a receiver binary, with or without rules.
type variant struct {
	name  string
	bin   string
	rules bool
}

type config struct {
	rounds       int
	duration     time.Duration
	connections  int
	rate         int
	replay       bool
	profile      bool         // profile the ten-rules rounds' receivers (profile.go)
	keepProfiles string       // -keep-profiles: where the profiles are copied
	live         *liveTargets // -live: the ten-rules rounds act live against these (live.go)
	// replayBefore is a second binary replaying a copy of the same events
	replayBefore string
	settle       time.Duration
	drainMax     time.Duration
	work         string
	variants     []variant
	verbose      bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rules bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rules", flag.ContinueOnError)
	var cfg config
	var bin, before string
	fs.IntVar(&cfg.rounds, "rounds", 3, "rounds of each variant (alternating)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "load per round")
	fs.IntVar(&cfg.connections, "connections", 64, "loadgen connections (closed loop)")
	fs.IntVar(&cfg.rate, "rate", 0, "open loop at this many events/s (0: closed loop); the same work for every variant")
	fs.DurationVar(&cfg.settle, "settle", 25*time.Second, "CPU is counted at least this long after the load, in every variant")
	fs.DurationVar(&cfg.drainMax, "drain-max", 3*time.Minute, "give up waiting for the engine after this long past the load")
	fs.StringVar(&bin, "receiver", "", "receiver binary (default: go build ./cmd/receiver)")
	fs.StringVar(&before, "before", "", "a second receiver binary measured with the rules too (e.g. an older build)")
	fs.BoolVar(&cfg.verbose, "v", false, "print each round's line as it ends")
	fs.BoolVar(&cfg.profile, "profile", false, "profile each ten-rules round's receiver and report the engine's share of its CPU (builds with -tags cpuprofile; see profile.go)")
	fs.StringVar(&cfg.keepProfiles, "keep-profiles", "", "with -profile, copy each profile to this directory (roundN-VARIANT.pprof), to read with go tool pprof")
	live := fs.Bool("live", false, "ten-rules rounds act live (RECEIVER_ACTIONS=live), with a message sink in this process and no Prolific token (see live.go)")
	fs.BoolVar(&cfg.replay, "replay", false, "after each no-rules round, run the ten rules over its stored events with no load (see replay.go)")
	fs.StringVar(&cfg.replayBefore, "replay-before", "", "with -replay, a second receiver binary replaying a copy of the same events (alternating first)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "rules-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	cfg.work = work
	if *live {
		cfg.live = startLive()
		defer cfg.live.close()
	}
	if bin == "" {
		bin = filepath.Join(work, "receiver")
		fmt.Fprintln(os.Stderr, "building ./cmd/receiver")
		build := []string{"build", "-o", bin}
		if cfg.profile {
			build = append(build, "-tags", "cpuprofile")
		}
		if out, err := exec.CommandContext(ctx, "go", append(build, "./cmd/receiver")...).CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v: %s", err, out)
		}
	}
	cfg.variants = []variant{{name: "no rules", bin: bin}, {name: "ten rules", bin: bin, rules: true}}
	if before != "" {
		cfg.variants = append(cfg.variants, variant{name: "ten rules (before)", bin: before, rules: true})
	}
	if err := os.WriteFile(filepath.Join(work, "rules.yaml"), tenRules, 0o600); err != nil {
		return err
	}
	results := map[string][]result{}
	for r := 1; r <= cfg.rounds; r++ {
		order := cfg.variants
		if r%2 == 0 { // even rounds in reverse, so neither variant always runs first (a host warming up or cooling down)
			order = slices.Clone(order)
			slices.Reverse(order)
		}
		for _, v := range order {
			res, err := round(ctx, cfg, v, r)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r, v.name, err)
			}
			results[v.name] = append(results[v.name], res)
			if cfg.verbose {
				fmt.Fprintf(os.Stderr, "round %d %-20s %s\n", r, v.name, res.line())
			}
		}
	}
	report(os.Stdout, cfg, results)
	if cfg.live != nil {
		fmt.Printf("live: %d messages to the sink\n", cfg.live.messages.Load())
	}
	return nil
}
