package bench

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("BENCH_ROUNDS", "2")
	t.Setenv("BENCH_ALSO_CONNECTIONS", "")
	c, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Rounds != 2 || c.Also != 0 || c.Connections != 256 || c.Duration != "10s" || c.Out != "bench/results.md" {
		t.Errorf("config = %+v, want 2 rounds, the second loop skipped, the defaults otherwise", c)
	}
	os.Unsetenv("BENCH_ALSO_CONNECTIONS") // t.Setenv restores it afterwards
	if c, _ := ConfigFromEnv(); c.Also != 64 {
		t.Errorf("Also = %d with BENCH_ALSO_CONNECTIONS unset, want 64", c.Also)
	}
	t.Setenv("BENCH_ROUNDS", "0")
	if _, err := ConfigFromEnv(); err == nil {
		t.Error("BENCH_ROUNDS=0 accepted, want an error")
	}
}

func TestBatchMean(t *testing.T) {
	metrics := "# HELP x\nreceiver_store_batch_events_sum 686\nreceiver_store_batch_events_count 10\nother 1\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/empty" {
			return
		}
		fmt.Fprint(w, metrics)
	}))
	defer srv.Close()
	if got := batchMean(srv.URL + "/metrics"); got != "68.6" {
		t.Errorf("batchMean = %q, want 68.6", got)
	}
	if got := batchMean(srv.URL + "/empty"); got != "–" {
		t.Errorf("batchMean without the metric = %q, want –", got)
	}
}

func TestPgbenchLatencies(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "floor-log")
	// client, transaction, latency µs, script, epoch s, µs, schedule lag µs
	logs := map[string]string{
		".1": "0 0 1500 0 1700000000 1 500\n0 1 900 0 1700000000 2 100\n",
		".2": "1 0 3000 0 1700000000 3 0\nnot a line\n",
	}
	for suffix, text := range logs {
		if err := os.WriteFile(prefix+suffix, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got := pgbenchLatencies(prefix)
	if want := []float64{1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("latencies = %v, want %v (latency + lag, ms, sorted)", got, want)
	}
}

func TestProcReadings(t *testing.T) {
	if n, err := cpuTicks(os.Getpid()); err != nil || n < 0 {
		t.Errorf("cpuTicks(self) = %d, %v", n, err)
	}
	if n, err := machineTicks(); err != nil || n <= 0 {
		t.Errorf("machineTicks() = %d, %v, want a positive count", n, err)
	}
	if kb := rssKB(os.Getpid(), "VmRSS"); kb <= 0 {
		t.Errorf("rssKB(self, VmRSS) = %d, want > 0", kb)
	}
	p, err := freePort()
	if err != nil || p < 10000 {
		t.Errorf("freePort() = %d, %v, want a port from 10000 up", p, err)
	}
}

// TestCommTicks finds this test process by its command name and counts the
// CPU it spends between two readings, as the bench counts PostgreSQL's.
func TestCommTicks(t *testing.T) {
	me := os.Getpid()
	comm, _, err := procStat(me)
	if err != nil || comm == "" {
		t.Fatalf("procStat(self) = %q, %v", comm, err)
	}
	before := commTicks(comm)
	start, ok := before[me]
	if !ok {
		t.Fatalf("commTicks(%q) has no PID %d: %v", comm, me, before)
	}
	// Spin for three clock ticks of CPU after the reading above.
	for now := start; now < start+3; now, _ = cpuTicks(me) {
	}
	spent, seen := ticksSince(before, commTicks(comm))
	if !seen || spent < 3 {
		t.Errorf("ticksSince = %d, %v; want at least the 3 ticks this process spent", spent, seen)
	}
	if n, seen := ticksSince(before, commTicks("no such command")); seen || n != 0 {
		t.Errorf("ticksSince for a command nobody runs = %d, %v; want 0, false", n, seen)
	}
}
