package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
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

// crashChildEnv marks the test binary run as a receiver child.
const crashChildEnv = "RECEIVER_CRASH_TEST_CHILD"

// TestCrashChild is not a test: TestCrashWithOutputs runs the test binary
// with this test alone and crashChildEnv set, and it then serves as the
// receiver until it is killed.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) != "1" {
		t.Skip("the receiver child of TestCrashWithOutputs; runs only as its child process")
	}
	if err := run(context.Background(), []string{"receiver", "serve"}, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
}

// TestCrashWithOutputs kills the receiver with SIGKILL mid-delivery, three
// times, while signed webhooks keep coming, with an HTTP output and a NATS
// output attached; after the last restart every event the receiver
// acknowledged with 200 reaches the HTTP consumer (verified as Standard
// Webhooks) and the JetStream stream, none missing, SQLite and PostgreSQL.
func TestCrashWithOutputs(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: runs without -short")
	}
	stores := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "r.db") },
		"postgres": func(t *testing.T) string { return pgtest.DSN(t) },
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) { crashWithOutputs(t, stores[name](t)) })
	}
}

func crashWithOutputs(t *testing.T, storeDSN string) {
	consumer := testkit.NewConsumer(t, forwardSecret)
	ns := testkit.StartNATS(t)
	outputsFile := writeOutputsFile(t, ns.URL())
	pub, adm := freeAddr(t), freeAddr(t)
	logPath := filepath.Join(t.TempDir(), "child.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
		cmd.Env = append(os.Environ(), crashChildEnv+"=1",
			"RECEIVER_LISTEN_ADDR="+pub, "RECEIVER_ADMIN_ADDR="+adm, "RECEIVER_STORE="+storeDSN,
			"PROLIFIC_WEBHOOK_SECRET=crash-secret", "PROLIFIC_API_TOKEN=", "RECEIVER_ADMIN_TOKEN=",
			"RECEIVER_OUTPUTS_FILE="+outputsFile, "FORWARD_URL="+consumer.URL+"/prolific",
			"FORWARD_SECRET="+forwardSecret, "FORWARD_SECRET_FILE=", "RECEIVER_LOG_LEVEL=warn")
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatalf("start child: %v", err)
		}
		waitReady(t, "http://"+adm, nil)
		return cmd
	}
	child := start()
	defer func() { _ = child.Process.Kill(); _, _ = child.Process.Wait() }()

	// Load: four senders for the whole test, recording each 200.
	ctx, stopLoad := context.WithCancel(context.Background())
	var mu sync.Mutex
	var acked, aliases []string
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
				code, body, err := send(ctx, client, &o)
				if err == nil && code == http.StatusOK {
					mu.Lock()
					acked = append(acked, o.eventID)
					if strings.Contains(string(body), `"duplicate"`) {
						// Same signed content as a stored event (two study
						// events alike within a second): forwarded under
						// that event's ID.
						aliases = append(aliases, o.eventID)
					}
					mu.Unlock()
				} else {
					time.Sleep(10 * time.Millisecond) // the receiver is down or restarting
				}
			}
		})
	}
	for round := range 3 {
		time.Sleep(time.Duration(300+rand.N(700)) * time.Millisecond)
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("round %d: kill: %v", round, err)
		}
		_, _ = child.Process.Wait()
		child = start()
	}
	time.Sleep(500 * time.Millisecond)
	stopLoad()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 20 {
		t.Fatalf("only %d events acknowledged: the load did not run", len(acked))
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

	// Rows a killed receiver had claimed wait for their lease to end (2 ×
	// the 10 s timeout + 10 s) before the next one delivers them.
	deadline := time.Now().Add(90 * time.Second)
	var missingHTTP, missingNATS []string
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
	if len(missingHTTP) > 0 || len(missingNATS) > 0 {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("of %d events acknowledged, %d never reached the HTTP consumer (e.g. %v) and %d never reached the stream (e.g. %v); child log:\n%s",
			len(want), len(missingHTTP), first(missingHTTP), len(missingNATS), first(missingNATS), tail(string(log), 3000))
	}
	if n := consumer.BadSignatures(); n != 0 {
		t.Errorf("%d deliveries failed the consumer's signature check", n)
	}
	t.Logf("%d acknowledged deliveries (%d of them duplicates of stored content), all %d events delivered to both outputs across 3 kills (%d HTTP deliveries in all, repeats allowed)",
		len(acked), len(aliases), len(want), sum(consumer.Received()))
}

func first(ids []string) []string { return ids[:min(len(ids), 5)] }

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
