package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// appendices are the files the report carries after its own sections, in
// order, each when present: the profiling notes (bench/profiling.md) and
// what the rules engine costs (bench/rules/results.md, from bench/rules).
var appendices = []string{"bench/profiling.md", "bench/rules/results.md"}

// Main runs the whole benchmark with cfg, logging progress to log, writes
// the report to cfg.Out and prints it to stdout. Every process it starts
// is stopped, and the PostgreSQL schema and work directory removed, before
// it returns.
func Main(ctx context.Context, cfg Config, stdout, log io.Writer) error {
	h, err := newHarness(ctx, cfg, log)
	if h != nil {
		defer h.cleanup()
	}
	if err != nil {
		return err
	}
	if h.pg, err = openPostgres(ctx, cfg.PostgresDSN); err != nil {
		h.logf("PostgreSQL: none reachable (set RECEIVER_TEST_POSTGRES_DSN): skipped")
	}
	res := &Results{Config: cfg, LoadStart: loadAvg()}
	if err := h.rounds(ctx); err != nil {
		return err
	}
	res.Runs = h.runs
	if res.GoBench, res.StoreBench, err = h.goBenchmarks(ctx); err != nil {
		return err
	}
	res.Written = time.Now().UTC().Format("2006-01-02 15:04 UTC")
	res.Machine, res.LoadEnd = machine(), loadAvg()
	if v, err := exec.Command("go", "version").Output(); err == nil {
		res.GoVersion = strings.TrimSpace(string(v))
	}
	for _, name := range appendices {
		if b, err := os.ReadFile(name); err == nil {
			res.Profiling += strings.TrimRight(string(b), "\n") + "\n\n"
		}
	}
	res.Profiling = strings.TrimSuffix(res.Profiling, "\n")
	var report bytes.Buffer
	if err := WriteReport(&report, res); err != nil {
		return err
	}
	if err := os.WriteFile(cfg.Out, report.Bytes(), 0o644); err != nil {
		return err
	}
	_, err = stdout.Write(report.Bytes())
	return err
}

// goBenchmarks runs the Go micro-benchmarks (verification, decoding) and
// the stores alone, without HTTP: CPU per durably stored event (SQLite: the
// whole test process; PostgreSQL: the whole machine, its server included).
func (h *harness) goBenchmarks(ctx context.Context) (gobench, storebench string, err error) {
	h.logf("go test -bench: verification and decoding")
	gobench, err = goTest(ctx, nil, "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", h.cfg.GoTime,
		"./internal/verify", "./internal/prolific")
	if err != nil {
		return "", "", fmt.Errorf("go benchmarks failed: %w", err)
	}
	h.logf("go test -bench: the stores alone")
	times := h.cfg.StoreEvents + "x"
	storebench, err = goTest(ctx, nil, "-run", "^$", "-bench", "SaveConcurrent(Ungathered|Output)?/callers=64",
		"-benchtime", times, "./internal/store/sqlite")
	if err != nil {
		return "", "", fmt.Errorf("store benchmark failed: %w", err)
	}
	if h.pg != nil {
		out, err := goTest(ctx, []string{"RECEIVER_TEST_POSTGRES_DSN=" + h.pg.dsn}, "-run", "^$", "-bench", "SaveParallel",
			"-benchtime", times, "./internal/store/postgres")
		if err != nil {
			return "", "", fmt.Errorf("store benchmark failed: %w", err)
		}
		storebench += out
	}
	return gobench, storebench, nil
}

// goTest runs `go test ARGS` with env added and returns its output.
func goTest(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"test"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%v: %s", err, lastLines(string(out), 20))
	}
	return string(out), nil
}

// machine describes the host: "2 CPUs (model), 23.5 GiB RAM, Linux 6.1.0".
func machine() string {
	model, mem := "", 0.0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ": "); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				mem = kb / 1048576
			}
		}
	}
	var u syscall.Utsname
	kernel := "?"
	if syscall.Uname(&u) == nil {
		kernel = utsString(u.Sysname[:]) + " " + utsString(u.Release[:])
	}
	return fmt.Sprintf("%d CPUs (%s), %.1f GiB RAM, %s", runtime.NumCPU(), model, mem, kernel)
}

func utsString[T int8 | uint8](b []T) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}
