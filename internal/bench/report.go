package bench

import (
	"fmt"
	"io"
	"strings"
)

// Results is everything the report states.
type Results struct {
	Config
	Runs       []*Run // in the order they ran
	Written    string // "2006-01-02 15:04 UTC"
	Machine    string // "2 CPUs (model), 23.5 GiB RAM, Linux 6.1"
	LoadStart  string // load average at the start and at the end
	LoadEnd    string
	GoVersion  string // `go version`
	GoBench    string // `go test -bench` output: verification and decoding
	StoreBench string // `go test -bench` output: the stores alone
	Profiling  string // the appendices (profiling, the rules' cost), each appended when present
}

// WriteReport writes the markdown report (bench/results.md's format).
func WriteReport(w io.Writer, res *Results) error {
	var b strings.Builder
	s := summarise(res.Runs, res.Config)
	header(&b, res, s.closed.Ceiling)
	table(&b, res, s)
	targets(&b, res, s)
	tail(&b, res)
	_, err := io.WriteString(w, b.String())
	return err
}

func header(b *strings.Builder, res *Results, ceiling int64) {
	c := res.Config
	p := func(format string, a ...any) { fmt.Fprintf(b, format+"\n", a...) }
	alsoComma, fewer := "", "fewer"
	if c.Also > 0 {
		alsoComma, fewer = ",", fmt.Sprint(c.Also)
	}
	p("# Benchmark results\n")
	p("Written by `make bench` (bench/run.sh, internal/bench) on %s.\n", res.Written)
	p("- Machine: %s; load average at the end: %s", res.Machine, res.LoadEnd)
	p("- %s", res.GoVersion)
	p("- Load, on the same machine and competing for the same CPUs: closed loops from `wrk` (%d threads)", c.WrkThreads)
	p("  replaying requests signed before the run (`receiver loadgen presign`, bench/wrk/presigned.lua: each a new")
	p("  X-Event-ID; traffic shaped like Prolific's: rising ObjectIds, 50 studies, 78 %% submission events (each")
	p("  submission created once, then 1-3 status changes), 19 %% progress pings, 3 %% study status changes, bodies")
	p("  as Python's json.dumps writes them; no Lua response hook), with %d connections for %s (the targets' load)%s", c.Connections, c.Duration, alsoComma)
	if c.Also > 0 {
		p("  then with %d connections from a second set;", c.Also)
	}
	p("  the open loop, after the closed loops' writes are flushed from the page cache (sync, as between runs;")
	p("  without it the kernel's write-back of them lands in the open loop's fsyncs), from `receiver loadgen` at %d events/s for", c.Rate)
	p("  %s, at most %d in flight (latency measured from the scheduled send time, so queueing is not", c.Duration, c.OpenConnections)
	p("  hidden, which wrk's closed loop would). Equal signed content is one event, so the generator sends at most")
	p("  one progress ping per study and second: above about 260 events/s (the open loop's rate) the pings it")
	p("  cannot send become submission events (at 1,000/s about 5 %% progress, 3 %% study status, 92 %% submission).")
	p("- Why %d connections for throughput: a durable receiver answers a request only after the fsync of", c.Connections)
	p("  its batch, so it needs more requests in flight than a bare server to keep the CPUs busy (Little's law:")
	p("  in flight = rate × latency); with fewer its CPUs idle while the disk syncs and the run measures the")
	p("  disk's latency more than the receiver's capacity. The run with %s connections shows that regime.", fewer)
	p("- The ceiling is a bare net/http server that reads the body and answers 200 (bench/ceiling).")
	p("  %d interleaved rounds: ceiling 0, then in round r the receiver on SQLite, on PostgreSQL, and ceiling r.", c.Rounds)
	p("  Each store runs without and with the down output (below) in a round, the plain run first in odd rounds and")
	p("  second in even ones; every PostgreSQL run starts from a CHECKPOINT on an emptied schema.")
	p("  Throughput counts 2xx answers per second; a receiver's \"vs ceiling\" is that divided by the mean of the")
	p("  ceiling runs just before and after it (r-1 and r); a ceiling's is against the ceilings' median (%d/s).", ceiling)
	p("- Server / wrk CPU = user+system CPU time each process spent per request in the closed loop with %d", c.Connections)
	p("  connections, in µs (wrk's without the reading of its requests before the run). With both on the same CPUs,")
	p("  throughput vs ceiling is roughly (wrk + ceiling CPU) / (wrk + server CPU): the dearer the generator, the")
	p("  flatter the ratio.")
	p("  PostgreSQL CPU (PostgreSQL runs): the same for all of PostgreSQL's server processes on this host (its")
	p("  backends, WAL writer, checkpointer, autovacuum), which share the two CPUs with the receiver and wrk.")
	p("  Events per commit: the receiver's mean group-commit size in the closed loop (receiver_store_batch_events).")
	p("- Failed = requests without a 2xx (non-2xx status or network error), closed / open loop. wrk wraps: how often")
	p("  a wrk thread ran out of unique requests and replayed them (duplicates; 0 for a clean receiver row; a row")
	p("  with wraps is not checked against its database, as some of its 2xx answered duplicates).")
	p("  2xx / stored: the 2xx answers of the receiver's three loops together, and the events its database holds")
	p("  when it has stopped (counted there; at least the 2xx, as every 2xx is durable).")
	p("- \"postgres floor r\" (when pgbench is installed): PostgreSQL's own latency, right after the receiver's run,")
	p("  for one transaction per event that inserts one 1 KiB row under a random key, from pgbench (four clients) at the same rate")
	p("  (schedule lag included). A receiver that answers after its commit cannot beat one commit by much, so this is")
	p("  the floor under the PostgreSQL p99 on this host.")
	p("- Compare rows of one run, not runs: on a shared machine the absolute numbers move from run to run.")
	p("- \"+output\" runs: the same receiver with an HTTP output (every event type) whose destination is down")
	p("  (nothing listens on its port), so each event also gets an outbox row and the worker keeps probing;")
	p("  compared with the run without it in the same round (docs/outputs.md). Their machine CPU per request is")
	p("  the whole machine's busy CPU time during the closed loop with %d connections, per request: it counts", c.Connections)
	p("  PostgreSQL's own work, which the server CPU column leaves out.")
	if c.Note != "" {
		p("- Note: %s", c.Note)
	}
	p("")
}

func table(b *strings.Builder, res *Results, s summary) {
	also := "–"
	if res.Also > 0 {
		also = fmt.Sprint(res.Also)
	}
	fmt.Fprintf(b, "| target | closed 2xx/s | vs ceiling | closed 2xx/s, %s conns | vs ceiling | server CPU µs/req | PostgreSQL CPU µs/req | wrk CPU µs/req | events per commit | closed p50 ms | closed p99 ms | open p50 ms | open p99 ms | open p99.9 ms | open late sends | failed | wrk wraps | 2xx / stored | idle RSS | peak RSS |\n", also)
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range res.Runs {
		b.WriteString(row(r, s) + "\n")
	}
	b.WriteString("\n")
}

// row is one run's line of the table.
func row(r *Run, s summary) string {
	switch {
	case r.Failed != "":
		return "| " + r.Name + " | " + r.Failed + " | | | | | | | | | | | | | | | | | | |"
	case r.Floor != nil:
		return fmt.Sprintf("| %s | – | – | – | – | – | – | – | – | – | – | %.2f | %.2f | %.2f | – | – | – | – | – | – |",
			r.Name, r.Floor[0], r.Floor[1], r.Floor[2])
	}
	pct := func(rs Ratios) string {
		if v, ok := rs.Of[r.Name]; ok {
			return fmt.Sprintf("%d %%", v)
		}
		return "–"
	}
	alsoRPS := "–"
	if r.Also != nil {
		alsoRPS = fmt.Sprint(r.Also.RPS())
	}
	st := "–"
	if r.Receiver {
		st = fmt.Sprintf("%d / ?", r.Acked())
		if r.Stored >= 0 {
			st = fmt.Sprintf("%d / %d", r.Acked(), r.Stored)
		}
	}
	db := "–"
	if r.DBCPU >= 0 {
		db = fmt.Sprint(r.DBCPU)
	}
	c, o := r.Closed, r.Open
	return fmt.Sprintf("| %s | %d | %s | %s | %s | %d | %s | %d | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %d | %d / %d | %d | %s | %d MiB | %d MiB |",
		r.Name, c.RPS(), pct(s.closed), alsoRPS, pct(s.also), r.ServerCPU, db, r.LoadCPU, r.Batch,
		c.Latency.P50, c.Latency.P99, o.Latency.P50, o.Latency.P99, o.Latency.P999, o.Late,
		c.Failed, o.Requests-o.OK, r.Wraps(), st, r.IdleMiB, r.PeakMiB)
}

func targets(b *strings.Builder, res *Results, s summary) {
	c := res.Config
	p := func(line string) { b.WriteString(line + "\n") }
	fmt.Fprintf(b, "## Targets (medians over the %d rounds of this run; idle RSS: the largest)\n\n", c.Rounds)
	p("| target | measured | rounds | wanted | verdict |")
	p("|---|---:|---|---:|---|")
	conns := fmt.Sprintf("%d connections", c.Connections)
	p(verdict("SQLite throughput vs ceiling, "+conns, s.closed.Median["sqlite"], ">=", 50, "%", joined(s.closed.Rounds["sqlite"])))
	p(verdict("PostgreSQL throughput vs ceiling, "+conns, s.closed.Median["postgres"], ">=", 35, "%", joined(s.closed.Rounds["postgres"])))
	if c.Also > 0 {
		also := fmt.Sprintf("%d connections", c.Also)
		p(verdict("SQLite throughput vs ceiling, "+also, s.also.Median["sqlite"], ">=", 50, "%", joined(s.also.Rounds["sqlite"])))
		p(verdict("PostgreSQL throughput vs ceiling, "+also, s.also.Median["postgres"], ">=", 35, "%", joined(s.also.Rounds["postgres"])))
	}
	p(verdict(fmt.Sprintf("SQLite p99 at %d events/s", c.Rate), s.p99["sqlite"], "<", 10, "ms", s.p99Rounds["sqlite"]))
	p(verdict(fmt.Sprintf("PostgreSQL p99 at %d events/s", c.Rate), s.p99["postgres"], "<", 10, "ms", s.p99Rounds["postgres"]))
	if s.floor != "" {
		p(fmt.Sprintf("| PostgreSQL's own p99 at %d one-row commits/s (pgbench; the floor, informational) | %s ms | %s | – | – |", c.Rate, s.floor, s.floorRounds))
	}
	p(verdict("load generator's CPU vs the bare server's, per request (wrk / ceiling)", s.genShare, "<", 20, "%", s.genRounds))
	stored := map[string]string{"yes": "met", "no": "not met"}[s.allStored]
	if stored == "" {
		stored = "not checked"
	}
	p(fmt.Sprintf("| every 2xx stored (events counted in each receiver's database afterwards) | %s | %s | yes | %s |", s.allStored, s.storedRounds, stored))
	p(verdict("SQLite throughput with an output whose destination is down, vs without (same round)", s.outMed["sqlite"], ">=", 90, "%", s.outPer["sqlite"]))
	p(verdict("PostgreSQL throughput with an output whose destination is down, vs without (same round)", s.outMed["postgres"], ">=", 90, "%", s.outPer["postgres"]))
	info := func(label, value, unit string) {
		if value != "" {
			p(fmt.Sprintf("| %s | – | %s %s | – | – |", label, value, unit))
		}
	}
	info(fmt.Sprintf("SQLite p99 at %d events/s without → with the down output (informational)", c.Rate), s.outP99["sqlite"], "ms")
	info(fmt.Sprintf("PostgreSQL p99 at %d events/s without → with the down output (informational)", c.Rate), s.outP99["postgres"], "ms")
	info("SQLite server CPU per request without → with the down output (informational; steadier than throughput)", s.outCPU["sqlite"], "µs")
	info("PostgreSQL server CPU per request without → with the down output (informational)", s.outCPU["postgres"], "µs")
	info("SQLite machine CPU per request (receiver + wrk + the rest of the host) without → with the down output (informational)", s.outMCPU["sqlite"], "µs")
	info("PostgreSQL machine CPU per request (receiver + PostgreSQL + wrk + the rest of the host) without → with the down output (informational; counts PostgreSQL's own work for the outbox row)", s.outMCPU["postgres"], "µs")
	info("PostgreSQL: the receiver's CPU / PostgreSQL's CPU per request, closed loop at "+conns+" (informational; both on the same two CPUs)", s.pgSplit, "µs")
	idle := func(kind string) string {
		if v, ok := s.maxIdle[kind]; ok {
			return fmt.Sprint(v)
		}
		return ""
	}
	p(verdict("idle RSS (SQLite)", idle("sqlite"), "<", 40, "MiB", ""))
	p(verdict("idle RSS (PostgreSQL)", idle("postgres"), "<", 40, "MiB", ""))
	p(verdict("verification, 1 KiB body (raw form)", verifyMicros(res.GoBench), "<", 5, "µs", ""))
	p("")
}

func tail(b *strings.Builder, res *Results) {
	p := func(line string) { b.WriteString(line + "\n") }
	p("On this shared host a single run's ratio moves by 10 points and more between runs of one")
	p("binary (bench/profiling.md lists them); the median of interleaved rounds is the number to quote.")
	p("")
	p("Load average at the start: " + res.LoadStart + ".")
	p("")
	p("## Go benchmarks (`go test -bench . -benchmem ./internal/verify ./internal/prolific`)")
	p("")
	p("```")
	b.WriteString(grepLines(res.GoBench, "Benchmark", "cpu:"))
	p("```")
	p("")
	p("## The stores alone (`BenchmarkSaveConcurrent/callers=64` on SQLite, `BenchmarkSaveParallel` on PostgreSQL)")
	p("")
	p("Durable saves from concurrent callers, no HTTP; CPU per event is the test process's for")
	p("SQLite and the whole machine's (PostgreSQL's server included) for PostgreSQL.")
	p("`BenchmarkSaveConcurrentUngathered` is SQLite's writer without the WAL-gathering VFS")
	p("(docs/store.md), each WAL frame written as two system calls, for comparison.")
	p("`BenchmarkSaveConcurrentOutput` and `BenchmarkSaveParallelOutput` are the same with one output every event passes (an outbox row per event).")
	p("")
	p("```")
	b.WriteString(grepLines(res.StoreBench, "Benchmark"))
	p("```")
	if res.Profiling != "" {
		p("")
		b.WriteString(res.Profiling)
	}
}

// grepLines returns the lines of s that start with one of the prefixes.
func grepLines(s string, prefixes ...string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				b.WriteString(strings.TrimSuffix(line, "\n") + "\n")
				break
			}
		}
	}
	return b.String()
}
