package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// report prints every round, then each variant's medians and ranges, and
// the cost of the rules: extra receiver CPU per event over the no-rules
// case, round by round (the rounds ran back to back) and of the medians.
// The host's speed moves from round to round (another tenant's load):
// loadgen does the same work per request in every case, so the receiver's
// CPU per event during the load over loadgen's CPU per request takes that
// speed out (perLoadgen).
func report(w io.Writer, cfg config, results map[string][]result) {
	host, _ := os.Hostname()
	loop := "closed loop"
	if cfg.rate > 0 {
		loop = fmt.Sprintf("open loop at %d events/s", cfg.rate)
	}
	fmt.Fprintf(w, "rules bench %s on %s: %d round(s) of %s, %s, %d connections, settle %s, load average %s\n\n",
		time.Now().UTC().Format(time.RFC3339), host, cfg.rounds, cfg.duration, loop, cfg.connections, cfg.settle, loadAvg())
	for _, v := range cfg.variants {
		for i, r := range results[v.name] {
			fmt.Fprintf(w, "round %d %-20s %s\n", i+1, v.name, r.line())
			if !r.drained {
				fmt.Fprintf(w, "  (the engine had not caught up %s after the load)\n", cfg.drainMax)
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| case | events/s | receiver CPU µs/event (to caught up) | during the load | loadgen CPU µs/request | behind at load end | caught up after |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	stat := func(rs []result, f func(result) float64, format string) string {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		return medRange(xs, format)
	}
	for _, v := range cfg.variants {
		rs := results[v.name]
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", v.name,
			stat(rs, func(r result) float64 { return r.rate }, "%.0f"),
			stat(rs, func(r result) float64 { return r.perEvent(r.cpuAll) }, "%.1f"),
			stat(rs, func(r result) float64 { return r.perEvent(r.cpuLoad) }, "%.1f"),
			stat(rs, func(r result) float64 { return float64(r.genCPU.Microseconds()) / float64(max(r.requests, 1)) }, "%.1f"),
			stat(rs, func(r result) float64 { return float64(r.unevaluated) }, "%.0f"),
			stat(rs, func(r result) float64 { return r.lag.Seconds() }, "%.1f s"))
	}
	fmt.Fprintln(w)
	base := results[cfg.variants[0].name]
	if cfg.replay {
		var us, share []float64
		for _, r := range base {
			us, share = append(us, r.perStored(r.engine)), append(share, r.replayShare())
		}
		fmt.Fprintf(w, "replay, the ten rules alone over each no-rules round's events: %s µs of receiver CPU per event, %s %% of the round's CPU per event without rules (median, range)\n",
			medRange(us, "%.1f"), medRange(share, "%+.1f"))
		if cfg.replayBefore != "" {
			var bus, bshare, ratio []float64
			for _, r := range base {
				b := r
				b.engine = r.engineBefore
				bus, bshare = append(bus, b.perStored(b.engine)), append(bshare, b.replayShare())
				ratio = append(ratio, float64(r.engine)/float64(max(r.engineBefore, 1)))
			}
			fmt.Fprintf(w, "replay, -replay-before's binary over the same events: %s µs per event, %s %%; new/before engine CPU per round %s\n",
				medRange(bus, "%.1f"), medRange(bshare, "%+.1f"), medRange(ratio, "%.3f"))
		}
	}
	for _, v := range cfg.variants[1:] {
		var cpuCost, loadCost, normCost, rateCost []float64
		for i, r := range results[v.name] {
			if i >= len(base) {
				break
			}
			b := base[i]
			cpuCost = append(cpuCost, 100*(r.perEvent(r.cpuAll)/b.perEvent(b.cpuAll)-1))
			loadCost = append(loadCost, 100*(r.perEvent(r.cpuLoad)/b.perEvent(b.cpuLoad)-1))
			normCost = append(normCost, 100*(r.perLoadgen()/b.perLoadgen()-1))
			rateCost = append(rateCost, 100*(r.rate/b.rate-1))
		}
		fmt.Fprintf(w, "%s vs %s, round by round (median, range): receiver CPU per event %s %% (to caught up), %s %% (during the load), %s %% (during the load, per loadgen CPU); throughput %s %%\n",
			v.name, cfg.variants[0].name, medRange(cpuCost, "%+.1f"), medRange(loadCost, "%+.1f"), medRange(normCost, "%+.1f"), medRange(rateCost, "%+.1f"))
		if cfg.profile {
			fmt.Fprintln(w, "(-profile: only the ten-rules rounds' receivers were profiled, which costs them CPU; read the engine's share, not this comparison)")
		}
	}
}

// medRange formats the median of xs and their range: "12.3 (11.0 … 14.2)".
func medRange(xs []float64, format string) string {
	if len(xs) == 0 {
		return "–"
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if len(s) == 1 {
		return fmt.Sprintf(format, m)
	}
	return fmt.Sprintf(format+" ("+format+" … "+format+")", m, s[0], s[len(s)-1])
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
