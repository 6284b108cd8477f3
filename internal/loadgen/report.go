package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
)

// Report is what one Run measured.
type Report struct {
	Mode        string   `json:"mode"` // "closed" or "open"
	Targets     []string `json:"targets"`
	Connections int      `json:"connections"`
	Rate        float64  `json:"rate,omitempty"` // scheduled events/s (open loop)
	Elapsed     Seconds  `json:"elapsed_seconds"`
	// Requests is every request that completed: with a response or an error.
	Requests int64 `json:"requests"`
	// Duplicates is how many of them re-sent an earlier event.
	Duplicates int64 `json:"duplicates"`
	// OK is how many got a 2xx response.
	OK int64 `json:"ok"`
	// Acked is how many distinct event IDs got a 2xx.
	Acked int `json:"acked"`
	// StatusCodes counts responses by status code.
	StatusCodes map[int]int64 `json:"status_codes"`
	// Errors counts requests without a response, by kind
	// ("connection refused", "timeout", ...).
	Errors map[string]int64 `json:"errors"`
	// Late counts open-loop requests sent more than LateAfter behind schedule.
	Late int64 `json:"late"`
	// MaxSendLag is the furthest an open-loop request fell behind schedule.
	MaxSendLag Seconds `json:"max_send_lag_seconds"`
	// Throughput is completed requests per second of elapsed time.
	Throughput float64 `json:"throughput_per_second"`
	// Latency summarises the response times of requests that got a response.
	Latency Latency `json:"latency"`
	// Interrupted is set when the run was cancelled before its limit.
	Interrupted bool `json:"interrupted"`
}

// Seconds is a duration that marshals to JSON as float seconds.
type Seconds time.Duration

// MarshalJSON writes the duration as seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(s).Seconds(), 'f', -1, 64), nil
}

// Latency holds response-time percentiles; in JSON each is in milliseconds.
type Latency struct {
	P50, P90, P99, P999, Max, Mean time.Duration
}

// MarshalJSON writes every field as float milliseconds (p50_ms, ...).
func (l Latency) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return json.Marshal(map[string]float64{
		"p50_ms": ms(l.P50), "p90_ms": ms(l.P90), "p99_ms": ms(l.P99),
		"p99_9_ms": ms(l.P999), "max_ms": ms(l.Max), "mean_ms": ms(l.Mean),
	})
}

// report builds the Report from the counters.
func (r *runner) report(elapsed time.Duration, interrupted bool) Report {
	c := &r.counts
	rep := Report{
		Mode:        "closed",
		Targets:     r.cfg.Targets,
		Connections: r.cfg.Connections,
		Elapsed:     Seconds(elapsed),
		Duplicates:  c.duplicates.Load(),
		StatusCodes: make(map[int]int64),
		Errors:      make(map[string]int64),
		Late:        c.late.Load(),
		MaxSendLag:  Seconds(c.maxLag.Load()),
		Interrupted: interrupted,
		Latency: Latency{
			P50: c.hist.Percentile(50), P90: c.hist.Percentile(90), P99: c.hist.Percentile(99),
			P999: c.hist.Percentile(99.9), Max: c.hist.Max(), Mean: c.hist.Mean(),
		},
	}
	if r.cfg.Rate > 0 {
		rep.Mode, rep.Rate = "open", r.cfg.Rate
	}
	for code := range c.status {
		if n := c.status[code].Load(); n > 0 {
			rep.StatusCodes[code] = n
			rep.Requests += n
			if code/100 == 2 {
				rep.OK += n
			}
		}
	}
	c.errMu.Lock()
	for k, n := range c.errs {
		rep.Errors[k] = n
		rep.Requests += n
	}
	c.errMu.Unlock()
	if elapsed > 0 {
		rep.Throughput = float64(rep.Requests) / elapsed.Seconds()
	}
	return rep
}

// WriteTable prints the report for people.
func (rep Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }
	mode := fmt.Sprintf("closed loop, %d connections", rep.Connections)
	if rep.Mode == "open" {
		mode = fmt.Sprintf("open loop at %g/s, %d senders", rep.Rate, rep.Connections)
	}
	if rep.Interrupted {
		mode += " (interrupted)"
	}
	p("mode\t%s", mode)
	p("targets\t%d", len(rep.Targets))
	p("elapsed\t%s", time.Duration(rep.Elapsed).Round(time.Millisecond))
	p("requests\t%d (%d duplicates)", rep.Requests, rep.Duplicates)
	p("2xx\t%d (%d distinct IDs acked)", rep.OK, rep.Acked)
	p("throughput\t%.1f/s", rep.Throughput)
	if rep.Mode == "open" {
		p("late sends\t%d (max lag %s)", rep.Late, time.Duration(rep.MaxSendLag).Round(time.Microsecond))
	}
	l := rep.Latency
	p("latency\tp50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s",
		fmtDur(l.P50), fmtDur(l.P90), fmtDur(l.P99), fmtDur(l.P999), fmtDur(l.Max), fmtDur(l.Mean))
	for _, code := range slices.Sorted(maps.Keys(rep.StatusCodes)) {
		p("status %d\t%d", code, rep.StatusCodes[code])
	}
	for _, kind := range slices.Sorted(maps.Keys(rep.Errors)) {
		p("error %s\t%d", kind, rep.Errors[kind])
	}
	return tw.Flush()
}

// fmtDur rounds a latency to three significant figures or so.
func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
