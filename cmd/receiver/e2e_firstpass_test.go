package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// A fresh receiver comes up after an outage: Prolific's delivery log holds
// 40 FAILED submission events from three days ago, and a live webhook
// arrives right after the start. The first reconciliation pass recovers
// all 40 whether the webhook was stored before it or after, on SQLite and
// PostgreSQL. The order is forced: without the periodic scheduler no pass
// runs by itself, and each pass is asked for, as `receiver reconcile` does.
func TestE2EFirstPassAfterOutageWithLiveWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: a receiver per store and order")
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, webhookFirst := range []bool{true, false} {
			name := backend + "/pass first"
			if webhookFirst {
				name = backend + "/webhook first"
			}
			t.Run(name, func(t *testing.T) {
				dsn := "sqlite:" + filepath.Join(t.TempDir(), "receiver.db")
				if backend == "postgres" {
					dsn = pgtest.DSN(t)
				}
				t.Parallel()
				firstPassScenario(t, dsn, webhookFirst)
			})
		}
	}
}

func firstPassScenario(t *testing.T, dsn string, webhookFirst bool) {
	const token, workspace, secret, lost = "e2e-firstpass-token", "0000000000000000000000f1", "e2e-firstpass-secret", 40
	var mu sync.Mutex
	clock := time.Now().Add(-72 * time.Hour)
	fake := prolifictest.New(prolifictest.Options{Tokens: []string{token}, Workspaces: []string{workspace},
		Secrets: map[string]string{workspace: secret}, AllowHTTPTargets: true, MaxRetries: -1, DeliveryTimeout: 2 * time.Second,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	fake.Start()
	defer fake.Close()
	pub, adm := freeAddr(t), freeAddr(t)
	publicURL := "http://" + pub + "/hooks/prolific"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Three days ago, the receiver down: every delivery fails.
	client := prolific.New(fake.URL(), token)
	sub, hs, err := client.CreateSubscription(ctx, workspace, prolific.EventSubmissionStatusChange, publicURL)
	if err != nil {
		t.Fatalf("CreateSubscription: %v", err)
	}
	if _, err := client.ConfirmSubscription(ctx, sub.ID, hs); err != nil {
		t.Fatalf("ConfirmSubscription: %v", err)
	}
	for i := range lost {
		if _, err := fake.Emit(workspace, prolific.EventSubmissionStatusChange, fmt.Sprintf("%024x", 0xa000+i),
			prolifictest.F("participant_id", fmt.Sprintf("%024x", 0xb000+i)), prolifictest.F("status", "RETURNED")); err != nil {
			t.Fatalf("Emit: %v", err)
		}
	}
	if err := fake.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	clock = time.Now()
	mu.Unlock()
	if st := fake.Stats(); st.Exhausted != lost || st.Successes != 0 {
		t.Fatalf("deliveries %+v, want %d given up, none delivered", st, lost)
	}

	// Now: a fresh receiver, with no periodic pass.
	cfg := testConfig(t, dsn, func(c *Config) {
		c.ListenAddr, c.AdminAddr, c.WebhookSecret = pub, adm, secret
		c.APIToken, c.WorkspaceID, c.APIURL, c.PublicURL, c.AllowInsecureURL = token, workspace, fake.URL(), publicURL, true
		c.EventTypes = []string{prolific.EventSubmissionStatusChange}
		c.EnrichDebounce, c.APIRateLimit = 100*time.Millisecond, 200
		c.ReconcileInterval, c.ReconcileSettle = 0, 200*time.Millisecond
		c.Actions, c.ActionsApprove = "dry-run", "off"
	})
	sctx, stop := context.WithCancel(context.Background())
	defer stop() // also when it never gets ready
	logs, errc := runReceiver(t, sctx, cfg)
	defer func() {
		stop()
		waitStopped(t, errc, "receiver", 15*time.Second)
		if t.Failed() {
			t.Logf("receiver log:\n%s", tail(logs.String(), 4000))
		}
	}()
	adminURL := "http://" + adm

	live := func() {
		t.Helper()
		ids, err := fake.Emit(workspace, prolific.EventSubmissionStatusChange, fmt.Sprintf("%024x", 0xc001),
			prolifictest.F("participant_id", fmt.Sprintf("%024x", 0xd001)), prolifictest.F("status", "AWAITING REVIEW"))
		if err != nil || fake.WaitIdle(ctx) != nil {
			t.Fatalf("Emit: %v", err)
		}
		var e storedEvent
		if code, err := fetchJSON(adminURL+"/api/v1/events/"+ids[0], &e); err != nil || code != http.StatusOK {
			t.Fatalf("live webhook %s not stored: %d %v", ids[0], code, err)
		}
	}
	pass := func() int {
		t.Helper()
		res, err := postReconcile(ctx, &http.Client{Timeout: time.Minute}, adminURL, "", nil)
		if err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		return res.Summary.Stored
	}
	stored := 0
	if webhookFirst {
		live()
		stored = pass()
	} else {
		stored = pass()
		live()
		stored += pass()
	}
	if stored != lost {
		t.Errorf("passes stored %d events, want the %d lost", stored, lost)
	}
	if got := listSources(t, adminURL); got["api"] != lost || got["webhook"] != 1 {
		t.Errorf("stored events by source %v, want %d from the delivery log and the 1 live webhook", got, lost)
	}
}
