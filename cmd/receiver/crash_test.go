package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

// The crash test (`make crash-test`; short in `make test`): TestCrash kills
// the receiver, cuts its database connection and crashes PostgreSQL under
// load; TestCrashPowerLoss (crash_power_test.go) cuts the power under
// SQLite on a FUSE file system.

// crashChildEnv marks the test binary run as a receiver child.
const crashChildEnv = "RECEIVER_CRASH_TEST_CHILD"

// TestCrashChild is not a test: the crash tests run the test binary with
// this test alone and crashChildEnv set, and it then serves as the receiver
// until it is killed.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) != "1" {
		t.Skip("the receiver child of the crash tests; runs only as their child process")
	}
	if err := run(context.Background(), []string{"receiver", "serve"}, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
}

// TestCrash runs signed load (with 5 % redeliveries of acknowledged IDs)
// against the receiver, with an HTTP output and a NATS output attached, and
// breaks something CRASH_ROUNDS times: SQLite rounds kill the
// receiver with SIGKILL and restart it; PostgreSQL rounds cycle through
// that, a one-second cut of the database connection (a proxy in between),
// and a crash of PostgreSQL itself (`pg_ctl stop -m immediate`, started
// again a second later through crash recovery) when the test can run a
// cluster of its own (initdb and pg_ctl, as the postgres user when root);
// else the shared server in a fresh schema, without crash rounds. It
// proves: every answer is 200 or 503 (or no answer while the receiver is
// down), an outage round sees 503s, every event acknowledged with 200 is
// stored and reaches the HTTP consumer (verified as Standard Webhooks) and
// the JetStream stream, no event is stored twice, and no more events are
// stored than distinct ones were sent. Without CRASH_ROUNDS (`make test`)
// each store gets its short form, one round of each kind it has; `make
// crash-test` sets it and runs the long form.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: runs without -short")
	}
	rounds := envRounds(t, "CRASH_ROUNDS")
	t.Run("sqlite", func(t *testing.T) {
		crashRounds(t, "sqlite:"+filepath.Join(t.TempDir(), "r.db"), rounds, []string{"kill"}, nil, nil)
	})
	t.Run("postgres", func(t *testing.T) {
		if pg := startPrivatePostgres(t); pg != nil {
			proxy := startCutProxy(t, pg.addr)
			dsn := "postgres://postgres@" + proxy.addr() + "/postgres?sslmode=disable"
			crashRounds(t, dsn, rounds, []string{"kill", "cut", "crash"}, proxy, pg)
			if n := pg.recoveries(); n < pg.crashes {
				t.Errorf("%d PostgreSQL crashes but %d crash recoveries in its log", pg.crashes, n)
			}
			return
		}
		dsn := pgtest.DSN(t)
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		host := u.Host
		if u.Port() == "" {
			host += ":5432"
		}
		proxy := startCutProxy(t, host)
		u.Host = proxy.addr()
		t.Log("no private PostgreSQL cluster possible (initdb/pg_ctl or the postgres user missing): the shared server, without crash rounds")
		crashRounds(t, u.String(), rounds, []string{"kill", "cut"}, proxy, nil)
	})
}

// crashRounds runs the load and the rounds against storeDSN, cycling
// through kinds; rounds 0 is the short form, one round of each kind.
func crashRounds(t *testing.T, storeDSN string, rounds int, kinds []string, proxy *cutProxy, pg *privatePostgres) {
	if rounds == 0 {
		rounds = len(kinds)
	}
	consumer := testkit.NewConsumer(t, forwardSecret)
	ns := testkit.StartNATS(t)
	outputsFile := writeOutputsFile(t, ns.URL())
	pub, adm := freeAddr(t), freeAddr(t)
	logPath, logFile := crashLog(t)
	start := func() *exec.Cmd {
		return startCrashChild(t, adm, logFile,
			"RECEIVER_LISTEN_ADDR="+pub, "RECEIVER_ADMIN_ADDR="+adm, "RECEIVER_STORE="+storeDSN,
			"PROLIFIC_WEBHOOK_SECRET=crash-secret", "PROLIFIC_API_TOKEN=", "RECEIVER_ADMIN_TOKEN=",
			"RECEIVER_OUTPUTS_FILE="+outputsFile, "FORWARD_URL="+consumer.URL+"/prolific",
			"FORWARD_SECRET="+forwardSecret, "FORWARD_SECRET_FILE=", "RECEIVER_LOG_LEVEL=warn")
	}
	child := start()
	defer func() { _ = child.Process.Kill(); _, _ = child.Process.Wait() }()

	// Load: four senders for the whole test, recording every answer.
	ctx, stopLoad := context.WithCancel(context.Background())
	var mu sync.Mutex
	var acked, aliases []string
	codes := map[int]int{}
	sent := map[string]bool{} // distinct event IDs sent
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				o := sendOptions{url: "http://" + pub + "/hooks/prolific", secret: "crash-secret", timeout: 5 * time.Second,
					eventType: prolific.EventSubmissionStatusChange, status: "AWAITING REVIEW"}
				if rand.N(3) == 0 {
					o.eventType, o.resourceID, o.status = prolific.EventStudyStatusChange, fmt.Sprintf("6650a1b2c3d4e5f6aaaa%04d", rand.N(20)), "ACTIVE"
				}
				mu.Lock()
				if n := len(acked); n > 0 && rand.N(20) == 0 {
					o.eventID = acked[rand.N(n)] // a redelivery: 200 again, nothing new stored
				}
				mu.Unlock()
				code, body, err := send(ctx, client, &o)
				mu.Lock()
				sent[o.eventID] = true
				if err == nil {
					codes[code]++
				}
				if err == nil && code == http.StatusOK {
					acked = append(acked, o.eventID)
					if strings.Contains(string(body), `"duplicate"`) {
						// Same signed content as a stored event (two study
						// events alike within a second), or a redelivery:
						// forwarded under the stored event's ID.
						aliases = append(aliases, o.eventID)
					}
				}
				mu.Unlock()
				if err != nil || code != http.StatusOK {
					time.Sleep(10 * time.Millisecond) // the receiver is down, restarting or in an outage
				}
			}
		})
	}
	count503 := func() int {
		mu.Lock()
		defer mu.Unlock()
		return codes[http.StatusServiceUnavailable]
	}
	for round := range rounds {
		time.Sleep(time.Duration(300+rand.N(700)) * time.Millisecond)
		kind := kinds[round%len(kinds)]
		before := count503()
		switch kind {
		case "kill":
			if err := child.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("round %d: kill: %v", round+1, err)
			}
			_, _ = child.Process.Wait()
			child = start()
		case "cut":
			proxy.cut()
			time.Sleep(time.Second)
			proxy.restore()
		case "crash":
			pg.crash(t)
			time.Sleep(time.Second)
			pg.start(t)
		}
		if kind != "kill" {
			// The outage must have been noticed: deliveries answered 503.
			time.Sleep(500 * time.Millisecond)
			if count503() == before {
				t.Errorf("round %d (%s): no delivery answered 503: the outage went unnoticed", round+1, kind)
			}
		}
		t.Logf("round %d: %s", round+1, kind)
	}
	time.Sleep(500 * time.Millisecond)
	stopLoad()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 20 {
		t.Fatalf("only %d events acknowledged: the load did not run", len(acked))
	}
	for code, n := range codes {
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Errorf("%d deliveries answered %d: under failure the receiver answers 200 (stored) or 503 (not)", n, code)
		}
	}
	// An acknowledged duplicate must reach downstream as the stored event
	// it duplicates.
	want := map[string]bool{}
	for _, id := range acked {
		want[id] = true
	}
	for _, id := range aliases {
		var e struct {
			EventID string `json:"event_id"`
		}
		if code, err := fetchJSON("http://"+adm+"/api/v1/events/"+id, &e); err != nil || code != http.StatusOK {
			t.Fatalf("GET event %s (a duplicate answered 200) = %d, %v", id, code, err)
		}
		delete(want, id)
		want[e.EventID] = true
	}
	stored := storedEventIDs(t, "http://"+adm)
	seen := map[string]bool{}
	for _, id := range stored {
		if seen[id] {
			t.Errorf("event %s stored twice", id)
		}
		seen[id] = true
	}
	if len(stored) > len(sent) {
		t.Errorf("%d events stored but only %d distinct events sent", len(stored), len(sent))
	}

	// Rows a killed receiver had claimed wait for their lease to end (2 ×
	// the 10 s timeout + 10 s) before the next one delivers them.
	deadline := time.Now().Add(90 * time.Second)
	var missingHTTP, missingNATS, missingStore []string
	for id := range want {
		if !seen[id] {
			missingStore = append(missingStore, id)
		}
	}
	for {
		got := consumer.Received()
		inStream := ns.StreamMsgIDs(t, "PROLIFIC")
		missingHTTP, missingNATS = nil, nil
		for id := range want {
			if got[id] == 0 {
				missingHTTP = append(missingHTTP, id)
			}
			if _, ok := inStream[id]; !ok {
				missingNATS = append(missingNATS, id)
			}
		}
		if len(missingHTTP)+len(missingNATS) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(missingStore)+len(missingHTTP)+len(missingNATS) > 0 {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("of %d events acknowledged, %d are not stored (e.g. %v), %d never reached the HTTP consumer (e.g. %v) and %d never reached the stream (e.g. %v); child log:\n%s",
			len(want), len(missingStore), first(missingStore), len(missingHTTP), first(missingHTTP), len(missingNATS), first(missingNATS), tail(string(log), 3000))
	}
	if n := consumer.BadSignatures(); n != 0 {
		t.Errorf("%d deliveries failed the consumer's signature check", n)
	}
	t.Logf("%d acknowledged deliveries (%d of them duplicates), %d events stored of %d distinct sent, answers %v; all %d acknowledged events delivered to both outputs across %d rounds (%d HTTP deliveries in all, repeats allowed)",
		len(acked), len(aliases), len(stored), len(sent), codes, len(want), rounds, sum(consumer.Received()))
}

// storedEventIDs reads every stored event's ID through the change feed.
func storedEventIDs(t *testing.T, adminURL string) []string {
	var ids []string
	after := int64(0)
	for {
		var page struct {
			Events []struct {
				EventID string `json:"event_id"`
			} `json:"events"`
			NextAfter *int64 `json:"next_after"`
			More      bool   `json:"more"`
		}
		u := fmt.Sprintf("%s/api/v1/events?after=%d&limit=1000", adminURL, after)
		if code, err := fetchJSON(u, &page); err != nil || code != http.StatusOK {
			t.Fatalf("GET %s = %d, %v", u, code, err)
		}
		for _, e := range page.Events {
			ids = append(ids, e.EventID)
		}
		if page.NextAfter == nil || (len(page.Events) == 0 && !page.More) {
			return ids
		}
		after = *page.NextAfter
	}
}

func first(ids []string) []string { return ids[:min(len(ids), 5)] }

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// cutProxy forwards a loopback port to a database and can cut the line:
// cut closes every open connection and refuses new ones until restore.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.Unlock()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) { _, _ = io.Copy(dst, src); done <- struct{}{} }
	go pipe(up, c)
	go pipe(c, up)
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// privatePostgres is a PostgreSQL cluster of the test's own, which it may
// crash (initdb and pg_ctl; as the postgres user when the test runs as root,
// since PostgreSQL refuses to run as root).
type privatePostgres struct {
	initdb, pgctl string
	dir, addr     string
	port          int
	crashes       int
}

func pgBin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1]
}

func asPostgres(args ...string) *exec.Cmd {
	if os.Getuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
	}
	return exec.Command(args[0], args[1:]...)
}

// startPrivatePostgres starts a cluster, or returns nil when it cannot (no
// programs, no postgres user).
func startPrivatePostgres(t *testing.T) *privatePostgres {
	pg := &privatePostgres{initdb: pgBin("initdb"), pgctl: pgBin("pg_ctl")}
	if pg.initdb == "" || pg.pgctl == "" {
		return nil
	}
	if os.Getuid() == 0 {
		if err := exec.Command("id", "postgres").Run(); err != nil {
			return nil
		}
	}
	dir, err := os.MkdirTemp("", "crash-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg.dir = dir
	for _, d := range []string{"data", "run"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if os.Getuid() == 0 {
		os.Chmod(dir, 0o711)
		if out, err := exec.Command("chown", "postgres", filepath.Join(dir, "data"), filepath.Join(dir, "run")).CombinedOutput(); err != nil {
			t.Logf("chown for the private cluster: %v %s", err, out)
			return nil
		}
	}
	if out, err := asPostgres(pg.initdb, "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		t.Logf("initdb for the private cluster: %v %s", err, tail(string(out), 500))
		return nil
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	fmt.Sscan(port, &pg.port)
	pg.addr = addr
	pg.start(t)
	t.Cleanup(func() {
		_ = asPostgres(pg.pgctl, "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w", "stop").Run()
	})
	out, _ := exec.Command(pg.pgctl, "--version").Output()
	t.Logf("a private PostgreSQL cluster on %s (%s)", addr, strings.TrimSpace(string(out)))
	return pg
}

func (pg *privatePostgres) start(t *testing.T) {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", pg.port, filepath.Join(pg.dir, "run"))
	if out, err := asPostgres(pg.pgctl, "-D", filepath.Join(pg.dir, "data"), "-l", filepath.Join(pg.dir, "run", "server.log"),
		"-w", "-t", "60", "-o", opts, "start").CombinedOutput(); err != nil {
		t.Fatalf("start the private PostgreSQL: %v %s", err, out)
	}
}

// crash stops the cluster the way a crash would: no checkpoint, no goodbye
// to clients; the next start replays the WAL.
func (pg *privatePostgres) crash(t *testing.T) {
	if out, err := asPostgres(pg.pgctl, "-D", filepath.Join(pg.dir, "data"), "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
		t.Fatalf("crash the private PostgreSQL: %v %s", err, out)
	}
	pg.crashes++
}

// recoveries counts the crash recoveries in the server's log.
func (pg *privatePostgres) recoveries() int {
	b, err := os.ReadFile(filepath.Join(pg.dir, "run", "server.log"))
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "database system was interrupted")
}

// startCrashChild starts this test binary as a receiver (TestCrashChild)
// with env added to the environment and its output going to log, and waits
// until its admin address adm answers ready.
func startCrashChild(t *testing.T, adm string, log *os.File, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
	cmd.Env = append(append(os.Environ(), crashChildEnv+"=1"), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	waitReady(t, "http://"+adm, nil)
	return cmd
}

// crashLog creates the file the receiver child logs to, closed when the
// test ends.
func crashLog(t *testing.T) (string, *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "child.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return path, f
}
