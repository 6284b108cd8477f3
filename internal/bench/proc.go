package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTicks returns the user+system CPU time of process pid so far, in
// clock ticks (/proc/PID/stat fields 14 and 15).
func cpuTicks(pid int) (int64, error) {
	_, ticks, err := procStat(pid)
	return ticks, err
}

// procStat returns process pid's command name and user+system CPU time so
// far in clock ticks, from /proc/PID/stat.
func procStat(pid int) (string, int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, err
	}
	// The command name (field 2, in parentheses) may hold spaces and
	// parentheses: it ends at the last ')'.
	s := string(b)
	end := strings.LastIndexByte(s, ')')
	start := strings.IndexByte(s, '(')
	if start < 0 || end < start {
		return "", 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 13 {
		return "", 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	user, err1 := strconv.ParseInt(f[11], 10, 64)
	sys, err2 := strconv.ParseInt(f[12], 10, 64)
	return s[start+1 : end], user + sys, errors.Join(err1, err2)
}

// commTicks returns the CPU time so far, in clock ticks, of every running
// process whose command name is comm (PostgreSQL's server processes are
// all "postgres": the backends, the WAL writer, the checkpointer,
// autovacuum), by PID.
func commTicks(comm string) map[int]int64 {
	out := map[int]int64{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if name, ticks, err := procStat(pid); err == nil && name == comm {
			out[pid] = ticks
		}
	}
	return out
}

// ticksSince returns the CPU time the processes of now spent since before
// (a process new since then counts from zero; one that has ended is lost),
// and whether there were any.
func ticksSince(before, now map[int]int64) (int64, bool) {
	var sum int64
	for pid, t := range now {
		sum += t - before[pid]
	}
	return sum, len(now) > 0
}

// machineTicks returns the busy CPU time of the whole machine so far (all
// CPUs; idle and iowait left out), in clock ticks: the servers, PostgreSQL,
// wrk and whatever else runs on the host.
func machineTicks() (int64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var sum int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// clockTicks returns the kernel's clock ticks per second (getconf CLK_TCK).
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if v, perr := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && perr == nil && v > 0 {
		return float64(v)
	}
	return 100
}

// rssKB returns field (VmRSS, VmHWM) of process pid in kB, or 0.
func rssKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

// freePort returns a loopback TCP port nobody listens on, below the
// kernel's ephemeral range: a port in that range can be taken at any moment
// by an outgoing connection (the load generators').
func freePort() (int, error) {
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			lo, _ = strconv.Atoi(f[0])
		}
	}
	if lo <= 11000 {
		return 0, fmt.Errorf("ephemeral port range starts at %d: no room below it", lo)
	}
	for range 50 {
		p := 10000 + rand.IntN(lo-10000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			l.Close()
			return p, nil
		}
	}
	return 0, errors.New("no free port found")
}

// loopbackAddr returns 127.0.0.1:PORT for a free port.
func loopbackAddr() (string, error) {
	p, err := freePort()
	return fmt.Sprintf("127.0.0.1:%d", p), err
}

// waitReady polls url until it answers 200, for at most d.
func waitReady(ctx context.Context, url string, d time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer 200 within %s", url, d)
}

// stopProcess sends SIGTERM, then SIGKILL after 10 s, and waits for it.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return
	case <-time.After(10 * time.Second):
	}
	_ = cmd.Process.Kill()
	<-done
}

// loadAvg returns the first three fields of /proc/loadavg.
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// batchMean returns the mean events per group commit a receiver reports
// on its metrics URL so far (receiver_store_batch_events), or "–".
func batchMean(url string) string {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "–"
	}
	defer resp.Body.Close()
	var sum, count float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		switch f[0] {
		case "receiver_store_batch_events_sum":
			sum, _ = strconv.ParseFloat(f[1], 64)
		case "receiver_store_batch_events_count":
			count, _ = strconv.ParseFloat(f[1], 64)
		}
	}
	if count <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", sum/count)
}
