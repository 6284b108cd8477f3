package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

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
	rs := startReplicas(t, ctx, 3, dsn, "", func(c *Config) {
		c.APIToken, c.WorkspaceID, c.APIURL, c.PublicURL = token, workspace, fake.URL(), publicURL
		c.AllowInsecureURL, c.Bootstrap = true, true
	})
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
