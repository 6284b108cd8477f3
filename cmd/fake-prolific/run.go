package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prolific-receiver/receiver/internal/flagset"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
)

type config struct {
	addr, token, workspace, secret, shape string
	allowHTTP, exitAfter                  bool
	timeScale                             float64
	deliveryTimeout                       time.Duration
	simulate                              int
	duration                              time.Duration
	returnRate, timeoutRate, rejectRate   float64
	seed                                  int64
	maxRetries                            int
	groups                                string
	rateLimit                             float64
	rateBurst                             int
	sink                                  bool
	smtpSink                              string
}

// DefaultGroupID is the participant group the fake has unless -groups says
// otherwise: the demo's FOLLOWUP_GROUP_ID.
const DefaultGroupID = "0000000000000000000000f1"

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flagset.New(args[0], "usage: "+args[0]+" [flags]\n\nRuns a fake Prolific API and webhook sender on loopback.\n\n", stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8900", "listen address of the fake API")
	fs.StringVar(&c.token, "token", "fake-prolific-token", "API token accepted in \"Authorization: Token <t>\"")
	fs.StringVar(&c.workspace, "workspace", "000000000000000000000001", "workspace ID that exists")
	fs.StringVar(&c.secret, "secret", "", "initial webhook signing secret of the workspace (none: create one through the API)")
	fs.StringVar(&c.shape, "create-shape", prolifictest.ShapeObject, "create-subscription response body: object or results")
	fs.BoolVar(&c.allowHTTP, "allow-http-targets", false, "accept http:// and loopback target URLs (tests and local demos)")
	fs.Float64Var(&c.timeScale, "time-scale", 1, "divide retry back-off and simulation duration by this factor")
	fs.DurationVar(&c.deliveryTimeout, "delivery-timeout", 10*time.Second, "timeout of one delivery attempt")
	fs.IntVar(&c.simulate, "simulate", 0, "simulate a study with this many places once a subscription is enabled (0: no simulation)")
	fs.DurationVar(&c.duration, "duration", time.Minute, "simulated study duration (before -time-scale)")
	fs.Float64Var(&c.returnRate, "return-rate", 0.1, "chance a participant returns the study")
	fs.Float64Var(&c.timeoutRate, "timeout-rate", 0.05, "chance a participant times out")
	fs.Float64Var(&c.rejectRate, "reject-rate", 0.05, "chance a submission is rejected")
	fs.Int64Var(&c.seed, "seed", 1, "random seed of the simulation")
	fs.IntVar(&c.maxRetries, "max-retries", 11, "retries after a failed delivery attempt before giving up, as Prolific does after about 24 hours (0: none)")
	fs.BoolVar(&c.exitAfter, "exit-after-simulate", false, "exit once the simulation's webhooks are delivered instead of serving on")
	fs.StringVar(&c.groups, "groups", DefaultGroupID, "comma-separated participant group IDs that exist in the workspace")
	fs.Float64Var(&c.rateLimit, "rate-limit", 0, "API requests per second before answering 429 with Retry-After (0: no limit)")
	fs.IntVar(&c.rateBurst, "rate-burst", 10, "requests allowed in a burst under -rate-limit")
	fs.BoolVar(&c.sink, "sink", true, "accept Slack/Teams webhook posts on "+sinkPath+" and print each message")
	fs.StringVar(&c.smtpSink, "smtp-sink", "", "also run a plain SMTP server (no TLS, no auth) on this address and print each mail, e.g. 127.0.0.1:2525")
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if c.token == "" || c.workspace == "" {
		return c, errors.New("-token and -workspace must not be empty")
	}
	if c.rateLimit < 0 || c.rateBurst < 1 {
		return c, errors.New("-rate-limit must not be negative and -rate-burst must be at least 1")
	}
	if c.shape != prolifictest.ShapeObject && c.shape != prolifictest.ShapeResults {
		return c, fmt.Errorf("-create-shape %q: want object or results", c.shape)
	}
	return c, nil
}

// run serves the fake until ctx ends (or, with -exit-after-simulate, until
// the simulation is delivered). The first stdout line names the base URL;
// with -simulate the last line is the result as JSON.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	opts := prolifictest.Options{
		Tokens: []string{c.token}, Workspaces: []string{c.workspace},
		AllowHTTPTargets: c.allowHTTP, CreateResponseShape: c.shape,
		TimeScale: c.timeScale, DeliveryTimeout: c.deliveryTimeout, MaxRetries: c.maxRetries,
		RateLimit: c.rateLimit, RateBurst: c.rateBurst,
	}
	out := &lockedWriter{w: stdout}
	opts.OnCall = func(call prolifictest.Call) { printAction(out, call) }
	if c.maxRetries == 0 {
		opts.MaxRetries = -1 // the fake's zero value means its default
	}
	if c.secret != "" {
		opts.Secrets = map[string]string{c.workspace: c.secret}
	}
	f := prolifictest.New(opts)
	defer f.Close()
	groups, err := createGroups(f, c)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	handler, smtpAddr, stopSinks, err := withSinks(f.Handler(), c, out)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopSinks()
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	out.printf("fake prolific listening on http://%s (workspace %s)\n", ln.Addr(), c.workspace)
	describeExtras(out, ln.Addr().String(), smtpAddr, c, groups)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	simErr := make(chan error, 1)
	if c.simulate > 0 {
		go func() {
			err := simulate(ctx, f, c, out)
			if err == nil && c.exitAfter {
				cancel()
			}
			simErr <- err
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("serve: %w", err)
	case err := <-simErr:
		if err != nil && ctx.Err() == nil {
			runErr = err
		}
		if runErr == nil && !c.exitAfter {
			<-ctx.Done()
		}
	}
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := srv.Shutdown(shutdownCtx); err != nil && runErr == nil {
		runErr = fmt.Errorf("shutdown: %w", err)
	}
	return runErr
}

// simulate waits for an enabled subscription in the workspace, runs one
// study while printing progress, waits for its webhooks and prints the
// result as JSON.
func simulate(ctx context.Context, f *prolifictest.Fake, c config, out *lockedWriter) error {
	out.printf("waiting for enabled subscriptions to %s in workspace %s\n", strings.Join(prolific.DefaultEventTypes, ", "), c.workspace)
	for !hasEnabled(f, c.workspace) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	studyID := prolifictest.NewID()
	out.printf("simulating study %s: %d places over %s (time scale %g)\n", studyID, c.simulate, c.duration, c.timeScale)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if s, ok := f.StudyState(studyID); ok {
					st := f.Stats()
					out.printf("progress: study %s places %d/%d submissions %d deliveries ok %d failed %d pending %d\n",
						s.Status, s.PlacesTaken, s.TotalAvailablePlaces, s.NumberOfSubmissions, st.Successes, st.Failures, st.Pending)
				}
			}
		}
	}()
	res, err := f.SimulateStudy(ctx, prolifictest.SimConfig{
		WorkspaceID: c.workspace, StudyID: studyID, Name: "Simulated study", Places: c.simulate, Duration: c.duration,
		ReturnRate: c.returnRate, TimeoutRate: c.timeoutRate, RejectRate: c.rejectRate, Seed: c.seed,
	})
	if err == nil {
		out.printf("study %s completed; waiting for deliveries\n", res.StudyID)
		err = f.WaitIdle(ctx)
	}
	close(done)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	final := struct {
		prolifictest.SimResult
		Deliveries prolifictest.DeliveryStats
	}{res, f.Stats()}
	b, err := json.Marshal(final)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	out.printf("%s\n", b)
	return nil
}

// hasEnabled reports whether every default event type has an enabled
// subscription in workspace, so no event of the simulation goes undelivered
// because a receiver was still confirming its subscriptions.
func hasEnabled(f *prolifictest.Fake, workspace string) bool {
	enabled := map[string]bool{}
	for _, s := range f.Subscriptions() {
		if s.Enabled && s.WorkspaceID == workspace {
			enabled[s.EventType] = true
		}
	}
	for _, t := range prolific.DefaultEventTypes {
		if !enabled[t] {
			return false
		}
	}
	return true
}

// lockedWriter serialises lines written by several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}
