// Package bench is `make bench`'s harness (bench/run.sh starts it through
// bench/harness once wrk is installed): in interleaved rounds it measures a
// bare net/http server (the ceiling), the receiver on SQLite and on
// PostgreSQL (each without and with an output whose destination is down),
// and PostgreSQL's own commit latency; it accounts CPU per request, counts
// what each receiver's database holds against its 2xx answers, takes ratios
// and medians, and writes the report with its verdicts (bench/results.md).
package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Config is one benchmark run's settings, read from the environment by
// ConfigFromEnv.
type Config struct {
	Rounds          int      // BENCH_ROUNDS, 3
	Duration        string   // BENCH_DURATION, "10s": each loop's length, as wrk and loadgen read it
	Connections     int      // BENCH_CONNECTIONS, 256: the targets' closed loop
	Also            int      // BENCH_ALSO_CONNECTIONS, 64; 0 (set empty) skips the second closed loop
	OpenConnections int      // the open loop's bound on requests in flight, 64
	Rate            int      // BENCH_RATE, 1000 events/s in the open loop
	WrkThreads      int      // BENCH_WRK_THREADS, 2
	Presigned       int      // BENCH_PRESIGNED, 500000 requests per closed-loop set
	Note            string   // BENCH_NOTE: a remark for the report
	PostgresDSN     string   // RECEIVER_TEST_POSTGRES_DSN, else a local server on 127.0.0.1:5432 is tried
	Loadgen         []string // LOADGEN: the open loop's command instead of "<built receiver> loadgen"
	GoTime          string   // BENCH_GO_TIME, "1s": -benchtime of the Go micro-benchmarks
	StoreEvents     string   // BENCH_STORE_EVENTS, "50000": events per store benchmark
	Out             string   // BENCH_OUT, bench/results.md
}

// ConfigFromEnv reads the BENCH_* variables (see Config).
func ConfigFromEnv() (Config, error) {
	c := Config{
		Duration: env("BENCH_DURATION", "10s"), OpenConnections: 64, Note: os.Getenv("BENCH_NOTE"),
		PostgresDSN: env("RECEIVER_TEST_POSTGRES_DSN", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		Loadgen:     strings.Fields(os.Getenv("LOADGEN")), GoTime: env("BENCH_GO_TIME", "1s"),
		StoreEvents: env("BENCH_STORE_EVENTS", "50000"), Out: env("BENCH_OUT", "bench/results.md"),
	}
	for _, n := range []struct {
		dst  *int
		name string
		def  string
	}{
		{&c.Rounds, "BENCH_ROUNDS", "3"}, {&c.Connections, "BENCH_CONNECTIONS", "256"},
		{&c.Rate, "BENCH_RATE", "1000"}, {&c.WrkThreads, "BENCH_WRK_THREADS", "2"},
		{&c.Presigned, "BENCH_PRESIGNED", "500000"},
	} {
		v, err := strconv.Atoi(env(n.name, n.def))
		if err != nil || v < 1 {
			return c, fmt.Errorf("%s must be a whole number above 0", n.name)
		}
		*n.dst = v
	}
	if also, set := os.LookupEnv("BENCH_ALSO_CONNECTIONS"); !set {
		c.Also = 64
	} else if also != "" {
		v, err := strconv.Atoi(also)
		if err != nil || v < 1 {
			return c, fmt.Errorf("BENCH_ALSO_CONNECTIONS must be a whole number above 0, or empty to skip")
		}
		c.Also = v
	}
	return c, nil
}

// env returns the variable's value, or def when it is unset or empty.
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
