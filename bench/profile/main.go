// Command profile serves the receiver's real webhook handler (verification,
// decoding, group-committed store) on a loopback port and writes CPU, mutex
// and block profiles of it while an external `receiver loadgen` drives it.
// It exists so the hot path can be profiled without a pprof endpoint in the
// receiver itself; bench/profile.sh runs it.
//
// Usage: profile -store sqlite:PATH|postgres://... -secret-file FILE
// -duration 10s -out DIR [-outputs FILE]. It prints the listen address on the first line,
// profiles for -duration once the first request arrived, then exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/bench/internal/benchcmd"
	"github.com/prolific-receiver/receiver/internal/handlers"
	"github.com/prolific-receiver/receiver/internal/outputs"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storeopen"
	"github.com/prolific-receiver/receiver/internal/verify"
)

func main() { benchcmd.Main("profile", run) }

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	dsn := fs.String("store", "", "sqlite:PATH or a postgres:// URL")
	secretFile := fs.String("secret-file", "", "file holding the webhook secret")
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	dur := fs.Duration("duration", 10*time.Second, "how long to profile after the first request")
	out := fs.String("out", ".", "directory for cpu.pprof, mutex.pprof and block.pprof")
	outputsFile := fs.String("outputs", "", "an outputs file (RECEIVER_OUTPUTS_FILE): its workers run as in `receiver serve`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret, err := os.ReadFile(*secretFile)
	if err != nil {
		return fmt.Errorf("read secret: %w", err)
	}
	st, saver, closeAll, err := openSaver(ctx, *dsn, *outputsFile)
	if err != nil {
		return err
	}
	defer closeAll()

	first := make(chan struct{})
	var once sync.Once
	var profiling atomic.Bool
	var count atomic.Int64
	deps := handlers.Deps{
		Log:          zerolog.Nop(),
		Saver:        saver,
		Reader:       st,
		Pinger:       st,
		Keyring:      verify.NewKeyring(strings.TrimSpace(string(secret)), nil),
		Tolerance:    verify.DefaultTolerance,
		MaxBodyBytes: 1 << 20,
		Metrics:      handlers.NewMetrics(prometheus.NewRegistry(), "profile"),
	}
	h := handlers.NewPublic(deps)
	l, srv, err := benchcmd.Listen(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(first) })
		h.ServeHTTP(w, r)
		if profiling.Load() {
			count.Add(1)
		}
	}))
	if err != nil {
		return err
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	select {
	case <-first:
	case <-ctx.Done():
		return nil
	case <-time.After(time.Minute):
		return errors.New("no request within a minute")
	}
	profiling.Store(true)
	err = profileFor(ctx, *dur, *out)
	profiling.Store(false)
	// The number of requests answered while the CPU profile ran, so that
	// its samples can be read as CPU time per request.
	fmt.Fprintf(os.Stderr, "profile: %d requests answered during the profile\n", count.Load())
	return err
}

// profileFor records a CPU profile for d, then writes the mutex and block
// profiles accumulated over the same span.
func profileFor(ctx context.Context, d time.Duration, dir string) error {
	runtime.SetMutexProfileFraction(5)
	runtime.SetBlockProfileRate(int(10 * time.Microsecond))
	f, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		return fmt.Errorf("create cpu profile: %w", err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return fmt.Errorf("start cpu profile: %w", err)
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	pprof.StopCPUProfile()
	for _, name := range []string{"mutex", "block"} {
		pf, err := os.Create(filepath.Join(dir, name+".pprof"))
		if err != nil {
			return fmt.Errorf("create %s profile: %w", name, err)
		}
		werr := pprof.Lookup(name).WriteTo(pf, 0)
		if cerr := pf.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("write %s profile: %w", name, werr)
		}
	}
	return nil
}

// openSaver opens the store at dsn and, with an outputs file, runs its
// workers as `receiver serve` does; saver is what the handler saves through.
// closeAll stops the workers, then closes the store.
func openSaver(ctx context.Context, dsn, outputsFile string) (st store.Store, saver handlers.Saver, closeAll func(), err error) {
	var outs []outputs.Output
	if outputsFile != "" {
		if outs, err = outputs.Load(outputsFile, os.Getenv); err != nil {
			return nil, nil, nil, err
		}
	}
	st, err = storeopen.Open(ctx, dsn, store.Options{Outputs: outputs.StoreOutputs(outs)})
	if err != nil {
		return nil, nil, nil, err
	}
	if len(outs) == 0 {
		return st, st, func() { st.Close() }, nil
	}
	runner, err := outputs.NewRunner(st, outs, "profile", outputs.Options{Log: zerolog.Nop()})
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { runner.Run(rctx); close(done) }()
	return st, runner.WakeOnSave(st), func() { cancel(); <-done; st.Close() }, nil
}
