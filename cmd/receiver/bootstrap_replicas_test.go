package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/delivery"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// TestReplicasBootstrapOneSecret: three replicas on one PostgreSQL start
// together against a workspace without a signing secret. Each reading "no
// secret" and creating one would replace the secret twice and leave
// replicas verifying with a dead one; the bootstrap lock makes the first
// create it and the others read it. The fake answers the secret look-up
// slowly, so without the lock every replica's look-up overlaps the others'.
func TestReplicasBootstrapOneSecret(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const token, workspace = "replica-api-token-not-real", "00000000000000000000000b"
	fake := prolifictest.New(prolifictest.Options{
		Tokens: []string{token}, Workspaces: []string{workspace}, AllowHTTPTargets: true,
		Inject: func(r *http.Request) (int, bool) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/hooks/secrets/") {
				time.Sleep(300 * time.Millisecond)
			}
			return 0, false
		},
	})
	fake.Start()
	defer fake.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	publicURL := "http://" + freeAddr(t) + "/hooks/prolific" // behind one load balancer: one URL
	rs := make([]replica, 3)
	for i := range rs {
		pub, adm := freeAddr(t), freeAddr(t)
		cfg := Config{
			ListenAddr: pub, AdminAddr: adm, Store: dsn,
			APIToken: token, WorkspaceID: workspace, APIURL: fake.URL(), PublicURL: publicURL,
			AllowInsecureURL: true, Bootstrap: true, EventTypes: prolific.DefaultEventTypes,
			TimestampTolerance: 26 * time.Hour, FutureTolerance: 5 * time.Minute, MaxBodyBytes: 1 << 20,
			LogLevel: "warn", LogFormat: "json", SecretGrace: 26 * time.Hour, StudyRetention: 720 * time.Hour,
			ShutdownTimeout: 5 * time.Second, EnrichDebounce: time.Second, APIRateLimit: 5,
		}
		if err := cfg.validate(); err != nil {
			t.Fatalf("config: %v", err)
		}
		rs[i] = replica{hookURL: "http://" + pub + "/hooks/prolific", adminURL: "http://" + adm, errc: make(chan error, 1)}
		log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Int("replica", i).Logger()
		go func() { rs[i].errc <- serve(ctx, cfg, log, nil) }()
	}
	for _, r := range rs {
		waitReady(t, r.adminURL, r.errc)
	}
	defer stopReplicas(t, cancel, rs)

	if n := fake.Requests(prolifictest.RouteCreateSecret); n != 1 {
		t.Errorf("replicas created the workspace secret %d times, want once", n)
	}
	secret, ok := fake.Secret(workspace)
	if !ok {
		t.Fatal("no signing secret after bootstrap")
	}
	if n := len(fake.Subscriptions()); n != len(prolific.DefaultEventTypes) {
		t.Errorf("%d subscriptions after bootstrap, want one per event type (%d)", n, len(prolific.DefaultEventTypes))
	}
	// Every replica verifies with the secret Prolific signs with.
	for i, r := range rs {
		body := delivery.Sample(prolific.EventStudyProgressChange, delivery.NewID(), "", "")
		now := time.Now()
		req, err := delivery.NewRequest(ctx, r.hookURL, secret, body,
			delivery.Headers{EventID: delivery.NewID(), EventTime: now, SentAt: now})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("replica %d answered a delivery signed with Prolific's secret with %d, want 200", i, resp.StatusCode)
		}
	}
}
