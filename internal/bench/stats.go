package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Wrk is wrk's JSON report for one closed loop (bench/wrk/presigned.lua).
type Wrk struct {
	Requests int64   `json:"requests"`
	OK       int64   `json:"ok"`
	Failed   int64   `json:"failed"`
	Elapsed  float64 `json:"elapsed_seconds"`
	Wraps    int64   `json:"wraps"`
	Latency  struct {
		P50 float64 `json:"p50_ms"`
		P99 float64 `json:"p99_ms"`
	} `json:"latency"`
}

// RPS is the loop's 2xx answers per second, rounded down.
func (w *Wrk) RPS() int64 {
	if w == nil || w.Elapsed <= 0 {
		return 0
	}
	return int64(math.Floor(float64(w.OK) / w.Elapsed))
}

// Open is the part of `receiver loadgen -json`'s report the bench reads.
type Open struct {
	Requests int64 `json:"requests"`
	OK       int64 `json:"ok"`
	Late     int64 `json:"late"`
	Latency  struct {
		P50  float64 `json:"p50_ms"`
		P99  float64 `json:"p99_ms"`
		P999 float64 `json:"p99_9_ms"`
	} `json:"latency"`
}

// Run is one row of the report: a server measured in one round, a
// PostgreSQL floor, or a run that could not be made (Failed).
type Run struct {
	Name     string // "ceiling 0", "receiver sqlite 1", "receiver postgres+output 2", "postgres floor 1"
	Failed   string // the row's only text when the run did not happen
	Receiver bool
	Closed   *Wrk // with the targets' connections
	Also     *Wrk // with the second connection count; nil when skipped
	Open     *Open
	// CPU per request in the closed loop, µs: the server's, wrk's (less its
	// loading), the whole machine's; the database server's processes' on
	// this host (PostgreSQL runs; -1 when not measured).
	ServerCPU, LoadCPU, MachineCPU, DBCPU int64
	Batch                                 string // mean events per commit, "–" when not known
	IdleMiB, PeakMiB                      int64
	Stored                                int64     // events in the receiver's database afterwards; -1: not counted
	Floor                                 []float64 // a floor row's p50, p99, p99.9 in ms
}

// Acked is the 2xx answers of the run's three loops together.
func (r *Run) Acked() int64 {
	n := r.Closed.OK + r.Open.OK
	if r.Also != nil {
		n += r.Also.OK
	}
	return n
}

// Wraps is how often wrk replayed its requests in the run's closed loops.
func (r *Run) Wraps() int64 {
	n := r.Closed.Wraps
	if r.Also != nil {
		n += r.Also.Wraps
	}
	return n
}

// measured reports whether r holds closed- and open-loop figures.
func (r *Run) measured() bool { return r != nil && r.Failed == "" && r.Closed != nil && r.Open != nil }

// Kinds are the receiver runs of a round, as they are named ("receiver KIND R").
var Kinds = []string{"sqlite", "sqlite+output", "postgres", "postgres+output"}

// median returns the median of vs formatted as awk's %g would (6
// significant digits), or "" for none.
func median(vs []float64) string {
	if len(vs) == 0 {
		return ""
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	m := s[n/2]
	if n%2 == 0 {
		m = (s[n/2-1] + s[n/2]) / 2
	}
	return strconv.FormatFloat(m, 'g', 6, 64)
}

// ratio returns 100 × a / b rounded (0 when b is not positive).
func ratio(a, b float64) int64 {
	if b <= 0 {
		return 0
	}
	return int64(math.RoundToEven(100 * a / b))
}

// roundUS rounds a per-request figure in µs as the report prints it.
func roundUS(v float64) int64 { return int64(math.RoundToEven(v)) }

// joined writes vs separated by ", ".
func joined[T any](vs []T) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}

func floats[T int64 | float64](vs []T) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = float64(v)
	}
	return out
}

// quantile returns the value at q of sorted vs: the ⌈q·n⌉-th smallest.
func quantile(sorted []float64, q float64) float64 {
	i := int(q*float64(len(sorted)) + 0.999999)
	i = min(max(i, 1), len(sorted))
	return sorted[i-1]
}

// Ratios is each run's throughput against the ceiling, for one of the
// two connection counts.
type Ratios struct {
	Ceiling int64            // the ceiling runs' median 2xx/s
	Of      map[string]int64 // by run name, in %
	Rounds  map[string][]int64
	Median  map[string]string // by kind
}

// ratios computes Ratios from rps (a run's 2xx/s, false when it has none):
// a ceiling against the ceilings' median, a receiver in round r against the
// mean of ceilings r-1 and r (integer mean, as the shell harness had it), and
// per kind the rounds' list and median.
func ratios(runs map[string]*Run, rounds int, rps func(*Run) (int64, bool)) Ratios {
	out := Ratios{Of: map[string]int64{}, Rounds: map[string][]int64{}, Median: map[string]string{}}
	ceil := make([]int64, rounds+1)
	var cs []float64
	for r := 0; r <= rounds; r++ {
		if v, ok := rps(runs[fmt.Sprintf("ceiling %d", r)]); ok {
			ceil[r] = v
			cs = append(cs, float64(v))
		}
	}
	m, _ := strconv.ParseFloat(median(cs), 64)
	out.Ceiling = int64(math.RoundToEven(m))
	for r := 0; r <= rounds; r++ {
		if _, ok := rps(runs[fmt.Sprintf("ceiling %d", r)]); ok {
			out.Of[fmt.Sprintf("ceiling %d", r)] = ratio(float64(ceil[r]), float64(out.Ceiling))
		}
	}
	for _, kind := range Kinds {
		var vals []int64
		for r := 1; r <= rounds; r++ {
			name := fmt.Sprintf("receiver %s %d", kind, r)
			v, ok := rps(runs[name])
			if !ok {
				continue
			}
			around := (ceil[r-1] + ceil[r]) / 2
			out.Of[name] = ratio(float64(v), float64(around))
			vals = append(vals, out.Of[name])
		}
		if len(vals) > 0 {
			out.Rounds[kind] = vals
			out.Median[kind] = median(floats(vals))
		}
	}
	return out
}

func closedRPS(r *Run) (int64, bool) {
	if !r.measured() {
		return 0, false
	}
	return r.Closed.RPS(), true
}

func alsoRPS(r *Run) (int64, bool) {
	if !r.measured() || r.Also == nil {
		return 0, false
	}
	return r.Also.RPS(), true
}
