package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite"
)

// result is what one round measured.
type result struct {
	acked       int64
	rate        float64       // acknowledged events per second of load
	cpuLoad     time.Duration // receiver CPU while the load ran
	cpuAll      time.Duration // receiver CPU until caught up (and settled)
	genCPU      time.Duration // loadgen's CPU
	requests    int64
	lag         time.Duration // after the load, until the cursor reached the newest event
	drained     bool
	actions     map[string]int64 // rule_actions rows by outcome
	stored      int64
	unevaluated int64         // events past the cursor when the load stopped
	engine      time.Duration // -replay: the engine's CPU over this round's events, alone
	replayLag   time.Duration // -replay: how long the engine took to catch up
	// -replay-before: the older binary's engine CPU over a copy of the same events
	engineBefore time.Duration
	// -profile: the engine's and the garbage collector's shares of the
	// receiver's CPU samples, per cent (profile.go)
	engineShare, gcShare float64
}

func (r result) perEvent(d time.Duration) float64 {
	return float64(d.Microseconds()) / float64(max(r.acked, 1))
}

// perLoadgen is the receiver's CPU per event during the load over
// loadgen's CPU per request in the same seconds: the receiver's cost in
// units of a fixed amount of work on the same host at the same time.
func (r result) perLoadgen() float64 {
	gen := float64(r.genCPU.Microseconds()) / float64(max(r.requests, 1))
	return r.perEvent(r.cpuLoad) / max(gen, 1e-9)
}

// perStored is d per stored event (the replay runs over every stored event).
func (r result) perStored(d time.Duration) float64 {
	return float64(d.Microseconds()) / float64(max(r.stored, 1))
}

func (r result) line() string {
	l := fmt.Sprintf("%7.0f ev/s  cpu %6.1f µs/ev (load %6.1f)  loadgen %5.1f µs/req  behind %6d  lag %5.1fs  actions %v",
		r.rate, r.perEvent(r.cpuAll), r.perEvent(r.cpuLoad), float64(r.genCPU.Microseconds())/float64(max(r.requests, 1)),
		r.unevaluated, r.lag.Seconds(), r.actions)
	if r.engine != 0 {
		l += fmt.Sprintf("\n        replay: engine alone %5.1f µs/ev (%+.1f %% of this round's), caught up in %.1fs", r.perStored(r.engine),
			r.replayShare(), r.replayLag.Seconds())
	}
	if r.engineShare != 0 {
		l += fmt.Sprintf("\n        profile: engine %.1f %% of the receiver's CPU samples (GC workers %.1f %%)", r.engineShare, r.gcShare)
	}
	if r.engineBefore != 0 {
		l += fmt.Sprintf("; before: %5.1f µs/ev", r.perStored(r.engineBefore))
	}
	return l
}

// replayShare is the engine's CPU per event alone as a share of the
// receiver's CPU per event without rules in the same round, in per cent.
func (r result) replayShare() float64 {
	return 100 * r.perStored(r.engine) / r.perEvent(r.cpuAll)
}

// round runs one variant once on a fresh database.
func round(ctx context.Context, cfg config, v variant, n int) (result, error) {
	var res result
	dir := filepath.Join(cfg.work, fmt.Sprintf("r%d-%s", n, strings.ReplaceAll(v.name, " ", "-")))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	listen, admin := freeAddr(), freeAddr()
	secret := newSecret()
	dbPath := filepath.Join(dir, "receiver.db")
	env := cleanEnv("RECEIVER_LISTEN_ADDR="+listen, "RECEIVER_ADMIN_ADDR="+admin, "RECEIVER_STORE=sqlite:"+dbPath,
		"PROLIFIC_WEBHOOK_SECRET="+secret, "RECEIVER_BOOTSTRAP=false", "RECEIVER_LOG_LEVEL=warn", "RECEIVER_ACTIONS=dry-run",
		"SLACK_WEBHOOK_URL=https://hooks.slack.test/services/bench")
	if v.rules {
		env = append(env, "RECEIVER_RULES_FILE="+filepath.Join(cfg.work, "rules.yaml"))
		if cfg.profile {
			env = append(env, profileEnv(dir)...)
		}
		if cfg.live != nil {
			env = append(env, cfg.live.env()...) // the last value of a key is the one used
		}
	}
	srv, err := startServer(ctx, v.bin, dir, env)
	if err != nil {
		return res, err
	}
	defer srv.stop()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return res, err
	}
	defer db.Close()
	pid := srv.pid
	c0 := cpu(pid)
	if err := load(ctx, cfg, v, listen, secret, &res); err != nil {
		return res, err
	}
	loadEnd := time.Now()
	res.cpuLoad = cpu(pid) - c0
	if err := drain(ctx, cfg, db, v.rules, loadEnd, &res); err != nil {
		return res, err
	}
	res.cpuAll = cpu(pid) - c0
	if err := tally(ctx, db, &res); err != nil {
		return res, err
	}
	if cfg.profile && v.rules {
		if res.engineShare, res.gcShare, err = engineShare(ctx, v.bin, dir, pid); err != nil {
			return res, err
		}
		if cfg.keepProfiles != "" {
			b, err := os.ReadFile(filepath.Join(dir, "cpu.pprof"))
			if err == nil {
				err = os.WriteFile(filepath.Join(cfg.keepProfiles, fmt.Sprintf("round%d-%s.pprof", n, strings.ReplaceAll(v.name, " ", "-"))), b, 0o600)
			}
			if err != nil {
				return res, err
			}
		}
	}
	if cfg.replay && !v.rules {
		srv.stop()
		return res, replay(ctx, cfg, v, dir, env, n, &res)
	}
	return res, nil
}

// server is a running `receiver serve`.
type server struct {
	cmd    *exec.Cmd
	pid    int
	exited chan struct{}
	log    *os.File
}

// startServer starts bin serve with env, logging to dir/serve.log, and
// waits until it is ready.
func startServer(ctx context.Context, bin, dir string, env []string) (*server, error) {
	logf, err := os.OpenFile(filepath.Join(dir, "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{}), log: logf}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	admin := ""
	for _, kv := range env {
		if a, ok := strings.CutPrefix(kv, "RECEIVER_ADMIN_ADDR="); ok {
			admin = a
		}
	}
	if err := waitReady(ctx, "http://"+admin+"/readyz", s.exited); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w; log: %s", err, tail(filepath.Join(dir, "serve.log")))
	}
	return s, nil
}

// stop ends the server (SIGTERM, then SIGKILL after 10 s); calling it
// again does nothing.
func (s *server) stop() {
	select {
	case <-s.exited:
	default:
		stop(s.cmd, s.exited)
	}
	s.log.Close()
}

// load runs loadgen against listen and fills in the load's figures.
func load(ctx context.Context, cfg config, v variant, listen, secret string, res *result) error {
	var out, errb bytes.Buffer
	args := []string{"loadgen", "-url", "http://" + listen + "/hooks/prolific", "-json",
		"-connections", strconv.Itoa(cfg.connections), "-duration", cfg.duration.String()}
	if cfg.rate > 0 {
		args = append(args, "-rate", strconv.Itoa(cfg.rate))
	}
	lg := exec.CommandContext(ctx, v.bin, args...)
	lg.Env, lg.Stdout, lg.Stderr = cleanEnv("PROLIFIC_WEBHOOK_SECRET="+secret), &out, &errb
	if err := lg.Run(); err != nil {
		return fmt.Errorf("loadgen: %v: %s", err, errb.String())
	}
	var rep struct {
		OK       int64   `json:"ok"` // 2xx answers; loadgen sends no duplicates unless told
		Requests int64   `json:"requests"`
		Elapsed  float64 `json:"elapsed_seconds"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return fmt.Errorf("loadgen report: %w", err)
	}
	res.acked, res.requests = rep.OK, rep.Requests
	res.rate = float64(rep.OK) / max(rep.Elapsed, 1e-9)
	res.genCPU = lg.ProcessState.UserTime() + lg.ProcessState.SystemTime()
	return nil
}

// drain waits until the engine caught up (the cursor at the newest event,
// no pending action due) and settle has passed since the load, polling the
// database read-only.
func drain(ctx context.Context, cfg config, db *sql.DB, rules bool, loadEnd time.Time, res *result) error {
	first := true
	var caught time.Time
	for {
		var newest, cursor, due int64
		err := db.QueryRowContext(ctx, `SELECT (SELECT coalesce(max(seq), 0) FROM events),
			(SELECT coalesce(max(seq), 0) FROM rule_cursor),
			(SELECT count(*) FROM rule_actions WHERE outcome = 'pending' AND due_at <= ?)`, time.Now().UnixMicro()).
			Scan(&newest, &cursor, &due)
		if err != nil {
			return fmt.Errorf("polling the database: %w", err)
		}
		if first {
			res.stored, first = newest, false
			if rules {
				res.unevaluated = newest - cursor
			}
		}
		if caught.IsZero() && (!rules || cursor >= newest) {
			caught = time.Now()
			res.lag = caught.Sub(loadEnd)
		}
		now := time.Now()
		// Decisions made while catching up are due up to 20 s later (a
		// digest's first message): settle counts from the catching up.
		if !caught.IsZero() && due == 0 && now.Sub(caught) >= cfg.settle {
			res.drained = true
			return nil
		}
		if now.Sub(loadEnd) > cfg.drainMax {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tally counts the recorded actions by outcome and checks every
// acknowledged event was stored.
func tally(ctx context.Context, db *sql.DB, res *result) error {
	var stored int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&stored); err != nil {
		return err
	}
	if stored < res.acked {
		return fmt.Errorf("%d events stored, %d acknowledged", stored, res.acked)
	}
	rows, err := db.QueryContext(ctx, `SELECT outcome, count(*) FROM rule_actions GROUP BY outcome`)
	if err != nil {
		return err
	}
	defer rows.Close()
	res.actions = map[string]int64{}
	for rows.Next() {
		var o string
		var c int64
		if err := rows.Scan(&o, &c); err != nil {
			return err
		}
		res.actions[o] = c
	}
	return rows.Err()
}

// cpu returns the user+system CPU time of process pid so far.
func cpu(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	user, _ := strconv.ParseInt(f[11], 10, 64)
	sys, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(user+sys) * time.Second / 100 // USER_HZ is 100 on Linux
}

// cleanEnv is this process's environment without the receiver's settings,
// plus set.
func cleanEnv(set ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RECEIVER_") && !strings.HasPrefix(kv, "PROLIFIC_") && !strings.HasPrefix(kv, "GOGC=") {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}

// freeAddr returns a loopback address nobody listens on, below the
// ephemeral range (loadgen's outgoing connections cannot take it).
func freeAddr() string {
	for {
		b := make([]byte, 2)
		_, _ = rand.Read(b)
		p := 10000 + (int(b[0])<<8|int(b[1]))%20000
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			_ = l.Close()
			return l.Addr().String()
		}
	}
}

func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func waitReady(ctx context.Context, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("receiver exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("receiver not ready within 30 s")
}

func stop(cmd *exec.Cmd, exited <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
