// Command harness is `make bench`'s harness (internal/bench); bench/run.sh
// installs wrk when missing and starts it from the repository's root.
// Settings come from the environment: BENCH_ROUNDS, BENCH_DURATION,
// BENCH_CONNECTIONS, BENCH_ALSO_CONNECTIONS, BENCH_RATE, BENCH_WRK_THREADS,
// BENCH_PRESIGNED, BENCH_NOTE, BENCH_GO_TIME, BENCH_STORE_EVENTS, BENCH_OUT,
// RECEIVER_TEST_POSTGRES_DSN and LOADGEN (see bench/run.sh).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/prolific-receiver/receiver/internal/bench"
)

func main() {
	cfg, err := bench.ConfigFromEnv()
	if err == nil {
		// An interrupt stops the run; Main still stops what it started.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = bench.Main(ctx, cfg, os.Stdout, os.Stderr)
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
