package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want string
	}{
		{nil, ""},
		{[]float64{32}, "32"},
		{[]float64{32, 31, 33}, "32"},
		{[]float64{31, 32}, "31.5"},
		{[]float64{2.95, 3.38, 3.52}, "3.38"},
		{[]float64{3.52, 2.95, 3.38, 2.95}, "3.165"},
	}
	for _, tc := range tests {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRatio(t *testing.T) {
	for _, tc := range []struct {
		a, b float64
		want int64
	}{{25374, 80072, 32}, {1, 0, 0}, {1, 8, 12}, {3, 8, 38}, {45, 100, 45}} {
		if got := ratio(tc.a, tc.b); got != tc.want {
			t.Errorf("ratio(%g, %g) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestQuantile(t *testing.T) {
	v := make([]float64, 1000)
	for i := range v {
		v[i] = float64(i + 1)
	}
	if got := quantile(v, 0.99); got != 990 {
		t.Errorf("quantile(1..1000, 0.99) = %g, want 990", got)
	}
	if got := quantile(v[:1], 0.999); got != 1 {
		t.Errorf("quantile of one value = %g, want 1", got)
	}
}

// TestReportMatchesShellHarness rebuilds the runs of the last report the
// shell harness wrote (testdata/shell-report.md: its table and targets) and
// checks that WriteReport gives the same table rows and targets, so the
// ratios (against the ceilings around each run), medians, CPU shares,
// stored-event check and verdicts are computed as they were.
func TestReportMatchesShellHarness(t *testing.T) {
	res, want := shellRuns(t)
	var got strings.Builder
	if err := WriteReport(&got, res); err != nil {
		t.Fatal(err)
	}
	gotLines := make(map[string]bool)
	for line := range strings.Lines(got.String()) {
		gotLines[line] = true
	}
	n := 0
	for line := range strings.Lines(want) {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		n++
		if !gotLines[line] {
			t.Errorf("the shell harness wrote\n%sbut the report has no such line", line)
		}
	}
	if n < 40 {
		t.Fatalf("only %d table lines compared", n)
	}
	if !strings.Contains(got.String(), "a ceiling's is against the ceilings' median (75010/s).") {
		t.Error("the report does not give the ceilings' median 75010/s")
	}
}

// shellRuns returns the runs of testdata/shell-report.md (its PostgreSQL
// CPU column is "–": the shell harness did not measure it) and the report.
func shellRuns(t *testing.T) (*Results, string) {
	b, err := os.ReadFile("testdata/shell-report.md")
	if err != nil {
		t.Fatal(err)
	}
	want := string(b)
	res := &Results{Config: Config{Rounds: 3, Duration: "10s", Connections: 256, Also: 64, OpenConnections: 64,
		Rate: 1000, WrkThreads: 2}, GoBench: lastLines(want, 1)}
	for line := range strings.Lines(want) {
		if r := parseRow(t, line); r != nil {
			res.Runs = append(res.Runs, r)
		}
	}
	if len(res.Runs) != 19 {
		t.Fatalf("%d rows parsed from the shell report, want 19", len(res.Runs))
	}
	machineCPU(t, want, res.Runs)
	return res, want
}

// TestPostgresCPUReported: PostgreSQL's CPU per request, where measured,
// is in its run's row and, for the runs without an output, beside the
// receiver's in the targets section.
func TestPostgresCPUReported(t *testing.T) {
	res, _ := shellRuns(t)
	server := map[int]int64{}
	for _, r := range res.Runs {
		var round int
		if _, err := fmt.Sscanf(r.Name, "receiver postgres %d", &round); err == nil {
			r.DBCPU, server[round] = int64(40+round), r.ServerCPU
		} else if _, err := fmt.Sscanf(r.Name, "receiver postgres+output %d", &round); err == nil {
			r.DBCPU = int64(50 + round)
		}
	}
	if len(server) != 3 {
		t.Fatalf("found %d plain PostgreSQL runs, want 3", len(server))
	}
	var got strings.Builder
	if err := WriteReport(&got, res); err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for line := range strings.Lines(got.String()) {
		if f := strings.Split(strings.TrimSpace(line), " | "); len(f) == 20 {
			rows[strings.TrimPrefix(f[0], "| ")] = f
		}
	}
	for name, want := range map[string]string{"receiver postgres 2": "42", "receiver postgres+output 3": "53",
		"receiver sqlite 1": "–", "ceiling 1": "–", "postgres floor 1": "–"} {
		if f := rows[name]; f == nil || f[6] != want {
			t.Errorf("%s: PostgreSQL CPU column %v, want %q", name, f, want)
		}
	}
	line := fmt.Sprintf("%d / 41, %d / 42, %d / 43 µs", server[1], server[2], server[3])
	if !strings.Contains(got.String(), "the receiver's CPU / PostgreSQL's CPU per request") ||
		!strings.Contains(got.String(), "| – | "+line+" |") {
		t.Errorf("the targets section lacks %q:\n%s", line, got.String())
	}
}

// machineCPU sets the runs' machine CPU per request, which the table
// does not show, from the report's "without → with" lines for it.
func machineCPU(t *testing.T, report string, runs []*Run) {
	by := make(map[string]*Run)
	for _, r := range runs {
		by[r.Name] = r
	}
	for line := range strings.Lines(report) {
		store := map[bool]string{true: "sqlite", false: "postgres"}[strings.HasPrefix(line, "| SQLite")]
		if !strings.Contains(line, "machine CPU per request") {
			continue
		}
		pairs := strings.TrimSuffix(strings.Split(line, " | ")[2], " µs")
		for i, pair := range strings.Split(pairs, ", ") {
			a, b, _ := strings.Cut(pair, " → ")
			plain, out := by[fmt.Sprintf("receiver %s %d", store, i+1)], by[fmt.Sprintf("receiver %s+output %d", store, i+1)]
			var err1, err2 error
			plain.MachineCPU, err1 = strconv.ParseInt(a, 10, 64)
			out.MachineCPU, err2 = strconv.ParseInt(b, 10, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("machine CPU pair %q", pair)
			}
		}
	}
}

// parseRow turns one row of the shell report's run table into the Run that
// would print it, or nil for any other line.
func parseRow(t *testing.T, line string) *Run {
	f := strings.Split(strings.TrimSuffix(strings.TrimSpace(line), " |"), " | ")
	if len(f) != 20 || !strings.HasPrefix(f[0], "| ") || f[1] == "closed 2xx/s" {
		return nil
	}
	name := strings.TrimPrefix(f[0], "| ")
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(strings.Fields(s)[0], 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", name, s, err)
		}
		return v
	}
	if strings.HasPrefix(name, "postgres floor") {
		return &Run{Name: name, Floor: []float64{num(f[11]), num(f[12]), num(f[13])}}
	}
	r := &Run{Name: name, Receiver: strings.HasPrefix(name, "receiver"), Batch: f[8], Stored: -1, DBCPU: -1,
		ServerCPU: int64(num(f[5])), LoadCPU: int64(num(f[7])), IdleMiB: int64(num(f[18])), PeakMiB: int64(num(f[19]))}
	if f[6] != "–" {
		r.DBCPU = int64(num(f[6]))
	}
	r.Closed = &Wrk{OK: int64(num(f[1])), Elapsed: 1, Wraps: int64(num(f[16]))}
	r.Closed.Latency.P50, r.Closed.Latency.P99 = num(f[9]), num(f[10])
	r.Also = &Wrk{OK: int64(num(f[3])), Elapsed: 1}
	fails := strings.Split(f[15], " / ")
	r.Closed.Failed = int64(num(fails[0]))
	r.Open = &Open{Late: int64(num(f[14]))}
	r.Open.Latency.P50, r.Open.Latency.P99, r.Open.Latency.P999 = num(f[11]), num(f[12]), num(f[13])
	if acked, stored, ok := strings.Cut(f[17], " / "); ok {
		r.Open.OK = int64(num(acked)) - r.Closed.OK - r.Also.OK
		r.Stored = int64(num(stored))
	}
	r.Open.Requests = r.Open.OK + int64(num(fails[1]))
	return r
}

func TestStoredVerdict(t *testing.T) {
	run := func(name string, acked, stored, wraps int64) *Run {
		return &Run{Name: name, Receiver: true, Stored: stored, Closed: &Wrk{OK: acked, Wraps: wraps}, Open: &Open{}}
	}
	tests := []struct {
		runs []*Run
		want string
	}{
		{[]*Run{run("receiver sqlite 1", 10, 10, 0), run("receiver postgres 1", 5, 6, 0)}, "yes"},
		{[]*Run{run("receiver sqlite 1", 10, 9, 0)}, "no"},
		{[]*Run{run("receiver sqlite 1", 10, -1, 0)}, "no"},
		{[]*Run{run("receiver sqlite 1", 10, 9, 1)}, "not checked"},
		{[]*Run{run("receiver sqlite 1", 10, 9, 0), run("receiver sqlite 2", 10, 9, 1)}, "no"},
	}
	for _, tc := range tests {
		if got, list := stored(tc.runs); got != tc.want {
			t.Errorf("stored(%s) = %q, want %q", list, got, tc.want)
		}
	}
	_, list := stored([]*Run{run("receiver sqlite 1", 3, 4, 0), run("receiver postgres 1", 1, 2, 0)})
	if list != "receiver postgres 1 1/2, receiver sqlite 1 3/4" {
		t.Errorf("stored list = %q, want the runs in name order", list)
	}
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		value, op string
		limit     float64
		want      string
	}{
		{"50", ">=", 50, "| x | 50 % | r | >= 50 % | met |"},
		{"49.5", ">=", 50, "| x | 49.5 % | r | >= 50 % | not met |"},
		{"9.99", "<", 10, "| x | 9.99 % | r | < 10 % | met |"},
		{"10", "<", 10, "| x | 10 % | r | < 10 % | not met |"},
		{"", "<", 10, "| x | – % | r | < 10 % | not measured |"},
	}
	for _, tc := range tests {
		if got := verdict("x", tc.value, tc.op, tc.limit, "%", "r"); got != tc.want {
			t.Errorf("verdict(%q %s %g) = %q, want %q", tc.value, tc.op, tc.limit, got, tc.want)
		}
	}
}
