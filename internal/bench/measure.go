package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// loopCPU is the CPU a closed loop cost, in clock ticks (wrk's in seconds).
type loopCPU struct {
	server, machine int64   // during the loop
	db              int64   // the database server's processes during the loop
	dbSeen          bool    // whether any of them ran on this host
	wrkLoad         int64   // wrk's before the loop: reading its requests
	wrkTotal        float64 // wrk's user+system seconds in all
}

// closedLoop runs wrk with conns connections for the configured duration,
// replaying the pre-signed requests set.* once each (bench/wrk/presigned.lua),
// and counts the CPU the server (pid) spends from the moment every wrk
// thread has read its requests, and that of the processes named dbComm
// (none when empty).
func (h *harness) closedLoop(ctx context.Context, pid int, url string, conns int, set, dbComm string) (*Wrk, loopCPU, error) {
	var cpu loopCPU
	ready := filepath.Join(h.work, fmt.Sprintf("ready-%d", time.Now().UnixNano()))
	cmd := exec.CommandContext(ctx, "wrk", fmt.Sprintf("-t%d", h.cfg.WrkThreads), fmt.Sprintf("-c%d", conns),
		"-d"+h.cfg.Duration, "--timeout", "10s", "-s", "bench/wrk/presigned.lua", url, "--", set, ready)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return nil, cpu, fmt.Errorf("wrk: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := waitFiles(ready, h.cfg.WrkThreads, 60*time.Second, done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return nil, cpu, fmt.Errorf("wrk did not load its requests: %v: %s", err, lastLines(errb.String(), 5))
	}
	cpu.wrkLoad, _ = cpuTicks(cmd.Process.Pid)
	var db0 map[int]int64
	if dbComm != "" {
		db0 = commTicks(dbComm)
	}
	s0, _ := cpuTicks(pid)
	m0, _ := machineTicks()
	if err := <-done; err != nil {
		if ctx.Err() != nil {
			return nil, cpu, fmt.Errorf("interrupted: %w", ctx.Err())
		}
		return nil, cpu, fmt.Errorf("wrk failed: %v: %s", err, lastLines(errb.String(), 5))
	}
	s1, _ := cpuTicks(pid)
	m1, _ := machineTicks()
	cpu.server, cpu.machine = s1-s0, m1-m0
	if dbComm != "" {
		cpu.db, cpu.dbSeen = ticksSince(db0, commTicks(dbComm))
	}
	cpu.wrkTotal = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	var w Wrk
	if err := json.Unmarshal([]byte(lastLines(out.String(), 1)), &w); err != nil {
		return nil, cpu, fmt.Errorf("wrk printed no report: %s", lastLines(out.String(), 5))
	}
	return &w, cpu, nil
}

// waitFiles waits until PREFIX.0 ... PREFIX.n-1 exist, for at most d, or
// until exited reports the process ended.
func waitFiles(prefix string, n int, d time.Duration, exited chan error) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		all := true
		for k := range n {
			if _, err := os.Stat(fmt.Sprintf("%s.%d", prefix, k)); err != nil {
				all = false
				break
			}
		}
		if all {
			return nil
		}
		select {
		case err := <-exited:
			exited <- err // the caller waits for it again
			return fmt.Errorf("exited early (%v)", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("not within %s", d)
}

// openLoop runs the load generator at the configured rate (`receiver
// loadgen -json`, or LOADGEN) and reads its report.
func (h *harness) openLoop(ctx context.Context, url string) (*Open, error) {
	args := append(h.loadgen[1:len(h.loadgen):len(h.loadgen)], "-url", url, "-connections", strconv.Itoa(h.cfg.OpenConnections),
		"-rate", strconv.Itoa(h.cfg.Rate), "-duration", h.cfg.Duration, "-json")
	cmd := exec.CommandContext(ctx, h.loadgen[0], args...)
	cmd.Env = append(os.Environ(), "PROLIFIC_WEBHOOK_SECRET="+h.secret)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("loadgen: %v: %s", err, lastLines(errb.String(), 5))
	}
	var o Open
	if err := json.Unmarshal(out, &o); err != nil {
		return nil, fmt.Errorf("loadgen printed no report: %v", err)
	}
	return &o, nil
}

// measure measures one running server: idle RSS, the closed loops (wrk),
// the open loop (loadgen), peak RSS. With a receiver's admin address the row
// also gets the mean events per commit of the first closed loop; with
// dbComm, the CPU of the database server's processes of that name on this
// host in that loop.
func (h *harness) measure(ctx context.Context, name, url string, pid int, admin, dbComm string) (*Run, error) {
	time.Sleep(time.Second)
	r := &Run{Name: name, Receiver: admin != "", Batch: "–", Stored: -1, DBCPU: -1, IdleMiB: rssKB(pid, "VmRSS") / 1024}
	h.logf("%s: closed loop (wrk), %d connections, %s", name, h.cfg.Connections, h.cfg.Duration)
	c, cpu, err := h.closedLoop(ctx, pid, url, h.cfg.Connections, filepath.Join(h.work, "presigned-a"), dbComm)
	if err != nil {
		return nil, err
	}
	r.Closed = c
	if admin != "" {
		r.Batch = batchMean("http://" + admin + "/metrics")
	}
	if h.cfg.Also > 0 {
		time.Sleep(time.Second)
		h.logf("%s: closed loop (wrk), %d connections, %s", name, h.cfg.Also, h.cfg.Duration)
		if r.Also, _, err = h.closedLoop(ctx, pid, url, h.cfg.Also, filepath.Join(h.work, "presigned-b"), ""); err != nil {
			return nil, err
		}
	}
	// The closed loops leave hundreds of MB dirty in the page cache; the
	// kernel writes them back tens of seconds later, during the open loop,
	// where they stall the commits' fsyncs (PostgreSQL's p99 went from about
	// 6 to 22-31 ms; bench/profiling.md, sixteenth look). The open loop
	// measures the steady rate, so it starts from a clean cache, as each run
	// does (settle).
	settle()
	h.logf("%s: open loop (loadgen) at %d/s, %s", name, h.cfg.Rate, h.cfg.Duration)
	if r.Open, err = h.openLoop(ctx, url); err != nil {
		return nil, err
	}
	r.PeakMiB = rssKB(pid, "VmHWM") / 1024
	if n := float64(c.Requests); n > 0 {
		r.ServerCPU = roundUS(float64(cpu.server) / h.hz * 1e6 / n)
		r.MachineCPU = roundUS(float64(cpu.machine) / h.hz * 1e6 / n)
		r.LoadCPU = roundUS((cpu.wrkTotal - float64(cpu.wrkLoad)/h.hz) * 1e6 / n)
		if cpu.dbSeen {
			r.DBCPU = roundUS(float64(cpu.db) / h.hz * 1e6 / n)
		}
	}
	h.logf("%s: %d/s, server %d µs CPU/request, wrk %d µs CPU/request, open-loop p99 %g ms, idle %d MiB, peak %d MiB",
		name, c.RPS(), r.ServerCPU, r.LoadCPU, r.Open.Latency.P99, r.IdleMiB, r.PeakMiB)
	return r, nil
}

// lastLines returns the last n non-empty lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
