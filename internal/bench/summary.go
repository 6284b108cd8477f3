package bench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// summary is what the targets section states, computed from the runs.
type summary struct {
	closed, also Ratios
	p99          map[string]string // median open-loop p99 by kind, ms
	p99Rounds    map[string]string
	maxIdle      map[string]int64
	genShare     string // wrk's CPU per request against the ceiling's, median %
	genRounds    string
	allStored    string // yes, no, not checked
	storedRounds string
	floor        string // PostgreSQL's own p99, median of the floor rows
	floorRounds  string
	// With the down output against without, in the same round, by store
	// (sqlite, postgres): throughput per round and median, and the
	// informational p99, server CPU and machine CPU pairs.
	outPer, outMed, outP99, outCPU, outMCPU map[string]string
	// The PostgreSQL runs without an output: the receiver's CPU per request
	// and PostgreSQL's, "R / D" per round, when PostgreSQL ran on this host.
	pgSplit string
}

// p99 returns a run's open-loop p99 as the report prints it (2 decimals).
func p99(r *Run) string { return fmt.Sprintf("%.2f", r.Open.Latency.P99) }

func parse(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

func summarise(runs []*Run, c Config) summary {
	by := make(map[string]*Run, len(runs))
	for _, r := range runs {
		by[r.Name] = r
	}
	s := summary{closed: ratios(by, c.Rounds, closedRPS), p99: map[string]string{}, p99Rounds: map[string]string{},
		maxIdle: map[string]int64{}, outPer: map[string]string{}, outMed: map[string]string{},
		outP99: map[string]string{}, outCPU: map[string]string{}, outMCPU: map[string]string{}}
	if c.Also > 0 {
		s.also = ratios(by, c.Rounds, alsoRPS)
	}
	for _, kind := range Kinds {
		var vals []float64
		var strs []string
		for r := 1; r <= c.Rounds; r++ {
			run := by[fmt.Sprintf("receiver %s %d", kind, r)]
			if !run.measured() {
				continue
			}
			strs = append(strs, p99(run))
			vals = append(vals, parse(p99(run)))
			s.maxIdle[kind] = max(s.maxIdle[kind], run.IdleMiB)
		}
		if len(vals) > 0 {
			s.p99[kind], s.p99Rounds[kind] = median(vals), strings.Join(strs, ", ")
		}
	}
	var shares []int64
	for r := 0; r <= c.Rounds; r++ {
		if run := by[fmt.Sprintf("ceiling %d", r)]; run.measured() {
			shares = append(shares, ratio(float64(run.LoadCPU), float64(run.ServerCPU)))
		}
	}
	s.genShare, s.genRounds = median(floats(shares)), joined(shares)
	s.allStored, s.storedRounds = stored(runs)
	var floors []float64
	var fs []string
	for _, r := range runs {
		if r.Floor != nil {
			floors = append(floors, parse(fmt.Sprintf("%.2f", r.Floor[1])))
			fs = append(fs, fmt.Sprintf("%.2f", r.Floor[1]))
		}
	}
	s.floor, s.floorRounds = median(floors), strings.Join(fs, ", ")
	var split []string
	for r := 1; r <= c.Rounds; r++ {
		if run := by[fmt.Sprintf("receiver postgres %d", r)]; run.measured() && run.DBCPU >= 0 {
			split = append(split, fmt.Sprintf("%d / %d", run.ServerCPU, run.DBCPU))
		}
	}
	s.pgSplit = strings.Join(split, ", ")
	for _, store := range []string{"sqlite", "postgres"} {
		s.withOutput(by, store, c.Rounds)
	}
	return s
}

// stored says whether every receiver's database held at least its 2xx
// answers, and lists them ("NAME ACKED/STORED") in name order. A run in
// which wrk replayed requests is not checked: some of its 2xx answered
// duplicates.
func stored(runs []*Run) (verdict, list string) {
	verdict = "yes"
	var rows []string
	var names []*Run
	for _, r := range runs {
		if r.Receiver && r.measured() {
			names = append(names, r)
		}
	}
	slices.SortFunc(names, func(a, b *Run) int { return strings.Compare(a.Name, b.Name) })
	for _, r := range names {
		st := "?"
		if r.Stored >= 0 {
			st = strconv.FormatInt(r.Stored, 10)
		}
		if r.Wraps() > 0 {
			rows = append(rows, fmt.Sprintf("%s %d/%s (not checked: wrk replayed requests)", r.Name, r.Acked(), st))
			if verdict != "no" {
				verdict = "not checked"
			}
			continue
		}
		rows = append(rows, fmt.Sprintf("%s %d/%s", r.Name, r.Acked(), st))
		if r.Stored < 0 || r.Stored < r.Acked() {
			verdict = "no"
		}
	}
	return verdict, strings.Join(rows, ", ")
}

// withOutput fills the down-output comparisons for store (sqlite or
// postgres): per round, the "+output" run's throughput against the plain
// run's in %, with the p99 and CPU pairs "without → with".
func (s *summary) withOutput(by map[string]*Run, store string, rounds int) {
	var vals []int64
	var p99s, cpus, mcpus []string
	for r := 1; r <= rounds; r++ {
		plain, out := by[fmt.Sprintf("receiver %s %d", store, r)], by[fmt.Sprintf("receiver %s+output %d", store, r)]
		if !plain.measured() || !out.measured() {
			continue
		}
		vals = append(vals, ratio(float64(out.Closed.RPS()), float64(plain.Closed.RPS())))
		p99s = append(p99s, p99(plain)+" → "+p99(out))
		cpus = append(cpus, fmt.Sprintf("%d → %d", plain.ServerCPU, out.ServerCPU))
		mcpus = append(mcpus, fmt.Sprintf("%d → %d", plain.MachineCPU, out.MachineCPU))
	}
	if len(vals) == 0 {
		return
	}
	s.outPer[store], s.outMed[store] = joined(vals), median(floats(vals))
	s.outP99[store], s.outCPU[store], s.outMCPU[store] = strings.Join(p99s, ", "), strings.Join(cpus, ", "), strings.Join(mcpus, ", ")
}

// verdict is one row of the targets table: value against limit by op (">="
// or "<"); an empty value is "not measured".
func verdict(label, value, op string, limit float64, unit, rounds string) string {
	v := "not met"
	switch n := parse(value); {
	case value == "":
		v, value = "not measured", "–"
	case op == ">=" && n >= limit, op == "<" && n < limit:
		v = "met"
	}
	return fmt.Sprintf("| %s | %s %s | %s | %s %g %s | %s |", label, value, unit, rounds, op, limit, unit, v)
}

// verifyMicros returns BenchmarkVerifyRaw1KiB's ns/op from `go test -bench`
// output in µs with two decimals, or "".
func verifyMicros(gobench string) string {
	for line := range strings.Lines(gobench) {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.HasPrefix(f[0], "BenchmarkVerifyRaw1KiB") {
			if ns, err := strconv.ParseFloat(f[2], 64); err == nil {
				return fmt.Sprintf("%.2f", ns/1000)
			}
		}
	}
	return ""
}
