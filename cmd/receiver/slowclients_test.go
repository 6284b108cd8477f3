package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/delivery"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

// Load of TestSlowClientsDoNotStarveDeliveries.
const (
	idleConns      = 1000
	slowConns      = 50
	deliveries     = 50
	deliveryBudget = 2 * time.Second // the most one delivery may take under that load
)

// testServeConfig is the configuration loadConfig gives with no environment
// but a webhook secret, on loopback ports chosen by the kernel and a
// temporary SQLite file, with a short shutdown.
func testServeConfig(t *testing.T, secret string) Config {
	t.Helper()
	return testConfig(t, "sqlite:"+filepath.Join(t.TempDir(), "receiver.db"), func(c *Config) {
		c.ListenAddr, c.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
		c.WebhookSecret, c.Bootstrap = secret, true
	})
}

// startServe runs serve with cfg until the test ends and returns the public
// and admin addresses and the log output.
func startServe(t *testing.T, cfg Config) (public, admin string, logs *testkit.SyncBuffer) {
	t.Helper()
	logs = new(testkit.SyncBuffer)
	log, err := newLogger(logs, "debug", "json")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan [2]string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- serve(ctx, cfg, log, func(p, a net.Addr) { addrs <- [2]string{p.String(), a.String()} })
	}()
	t.Cleanup(func() {
		cancel()
		waitStopped(t, errc, "serve", 15*time.Second)
	})
	select {
	case a := <-addrs:
		waitReady(t, "http://"+a[1], errc)
		return a[0], a[1], logs
	case err := <-errc:
		t.Fatalf("serve exited before listening: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not listen within 20s")
	}
	return "", "", nil
}

// ensureFiles raises RLIMIT_NOFILE to at least n, or skips the test.
func ensureFiles(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot read RLIMIT_NOFILE: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Skipf("RLIMIT_NOFILE hard limit %d is below the %d descriptors this test needs", lim.Max, n)
	}
	old := lim.Cur
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot raise RLIMIT_NOFILE from %d to %d: %v", old, n, err)
	}
	t.Cleanup(func() { lim.Cur = old; syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
}

// TestSlowClientsDoNotStarveDeliveries holds 1,000 idle connections and 50
// slow-drip ones (headers or body one byte at a time) open on the public
// listener of a real receiver, and checks that signed deliveries are still
// answered 200 within deliveryBudget each and stored, and that the idle
// connections are closed by ReadHeaderTimeout (5 s) rather than kept forever.
func TestSlowClientsDoNotStarveDeliveries(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections and waits for the header timeout; not in -short")
	}
	// Both ends of every connection live in this process.
	ensureFiles(t, 2*(idleConns+slowConns)+512)
	const secret = "slow-clients-secret"
	pub, adm, _ := startServe(t, testServeConfig(t, secret))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	idle := make([]net.Conn, 0, idleConns)
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range idleConns {
		c, err := net.Dial("tcp", pub)
		if err != nil {
			t.Fatalf("dial idle connection %d: %v", len(idle)+1, err)
		}
		idle = append(idle, c)
	}
	opened := time.Now()
	var drippers sync.WaitGroup
	for i := range slowConns {
		drippers.Add(1)
		go func() {
			defer drippers.Done()
			drip(ctx, t, pub, i%2 == 0)
		}()
	}

	// Deliveries from 5 concurrent senders, each timed.
	client := &http.Client{Timeout: 10 * time.Second}
	var ok, slow atomic.Int64
	var wg sync.WaitGroup
	ids := make(chan string, deliveries)
	for w := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < deliveries; i += 5 {
				id := delivery.NewID()
				body := delivery.Sample(prolific.EventSubmissionStatusChange, delivery.NewID(), "AWAITING REVIEW", delivery.NewID())
				req, err := delivery.NewRequest(ctx, "http://"+pub+"/hooks/prolific", secret, body,
					delivery.Headers{EventID: id, EventTime: time.Now(), SentAt: time.Now()})
				if err != nil {
					t.Error(err)
					return
				}
				start := time.Now()
				resp, err := client.Do(req)
				took := time.Since(start)
				if err != nil {
					t.Errorf("delivery %d: %v", i, err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
					ids <- id
				} else {
					t.Errorf("delivery %d: status %d, want 200", i, resp.StatusCode)
				}
				if took > deliveryBudget {
					slow.Add(1)
					t.Errorf("delivery %d took %v under load, want at most %v", i, took, deliveryBudget)
				}
			}
		}()
	}
	wg.Wait()
	close(ids)
	if overlap := time.Since(opened); overlap > 5*time.Second {
		t.Logf("deliveries finished %v after the idle connections opened; some may already have been closed", overlap)
	}
	if ok.Load() != deliveries {
		t.Fatalf("%d of %d deliveries answered 200 under load", ok.Load(), deliveries)
	}
	assertStored(t, "http://"+adm, ids)

	// The idle connections must be cut by ReadHeaderTimeout (5 s), not held.
	var closed atomic.Int64
	var readers sync.WaitGroup
	deadline := opened.Add(5*time.Second + 5*time.Second)
	for _, c := range idle {
		readers.Add(1)
		go func() {
			defer readers.Done()
			c.SetReadDeadline(deadline)
			if _, err := c.Read(make([]byte, 1)); err == io.EOF || err != nil && strings.Contains(err.Error(), "reset") {
				closed.Add(1)
			}
		}()
	}
	readers.Wait()
	if closed.Load() != idleConns {
		t.Errorf("server closed %d of %d idle connections within 10s, want all (ReadHeaderTimeout 5s)", closed.Load(), idleConns)
	}
	stop()
	drippers.Wait()
}

// drip opens a connection and sends a request slowly until ctx ends:
// headers one byte per 100 ms, or (body) a complete head announcing 100 KB
// and then one body byte per 100 ms.
func drip(ctx context.Context, t *testing.T, addr string, body bool) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Errorf("dial drip connection: %v", err)
		return
	}
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	data := []byte("POST /hooks/prolific HTTP/1.1\r\nHost: receiver\r\nX-Event-ID: " + delivery.NewID() + "\r\nX-Pad: " + strings.Repeat("p", 500))
	if body {
		head := fmt.Sprintf("POST /hooks/prolific HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 100_000)
		if _, err := c.Write([]byte(head)); err != nil {
			return
		}
		data = []byte(strings.Repeat(" ", 100_000))
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for _, b := range data {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, err := c.Write([]byte{b}); err != nil {
			return // cut by the server: what its timeouts are for
		}
	}
}

// assertStored checks through the read API that every acknowledged event ID is stored.
func assertStored(t *testing.T, adminURL string, ids <-chan string) {
	t.Helper()
	resp, err := http.Get(adminURL + "/api/v1/events?limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Events []struct {
			EventID string `json:"event_id"`
		} `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatalf("decode events: %v", err)
	}
	stored := map[string]bool{}
	for _, e := range list.Events {
		stored[e.EventID] = true
	}
	n := 0
	for id := range ids {
		n++
		if !stored[id] {
			t.Errorf("acknowledged event %s is not stored", id)
		}
	}
	if len(list.Events) != n {
		t.Errorf("store holds %d events, want the %d acknowledged ones", len(list.Events), n)
	}
}

// TestServeNeverLogsTheAPIToken starts serve with a Prolific API token and a
// fake Prolific that fails every call with a 500 whose body echoes the
// Authorization header, drives the secret refresh and an enrichment job, and
// checks the token is in no log line.
func TestServeNeverLogsTheAPIToken(t *testing.T) {
	const token = "apitok_LEAKCHECK_6e2b91d0c4"
	var calls atomic.Int64
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"error": {"title": "boom", "detail": "rejected %s for %s"}}`, r.Header.Get("Authorization"), r.URL.Path)
	}))
	defer fake.Close()
	cfg := testServeConfig(t, "api-token-test-secret")
	cfg.APIToken, cfg.WorkspaceID, cfg.APIURL = token, "6650a1b2c3d4e5f60000aaaa", fake.URL
	cfg.EnrichDebounce = 10 * time.Millisecond
	pub, adm, logs := startServe(t, cfg)

	body := delivery.Sample(prolific.EventStudyStatusChange, delivery.NewID(), "ACTIVE", "")
	req, _ := delivery.NewRequest(context.Background(), "http://"+pub+"/hooks/prolific", cfg.WebhookSecret, body,
		delivery.Headers{EventID: delivery.NewID(), EventTime: time.Now(), SentAt: time.Now()})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("delivery: status %d, want 200 while Prolific's API fails", resp.StatusCode)
	}
	// Wait until both the secret refresh and the enrichment job have failed and logged.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		l := logs.String()
		if strings.Contains(l, "signing secret failed") && strings.Contains(l, "enrichment: job failed") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	l := logs.String()
	if !strings.Contains(l, "signing secret failed") || !strings.Contains(l, "enrichment: job failed") {
		t.Fatalf("the failing API calls were not logged within 15s (%d calls); logs:\n%s", calls.Load(), l)
	}
	if scrape := get(t, "http://"+adm+"/metrics"); strings.Contains(scrape, token) {
		t.Error("/metrics contains the API token")
	}
	if strings.Contains(l, token) {
		t.Errorf("logs contain the API token:\n%s", l)
	}
}

// get returns the body of a GET of url.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
