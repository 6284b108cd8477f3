package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/loadgen"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// replica is one running receiver.
type replica struct {
	hookURL, adminURL string
	errc              chan error
}

// startReplicas runs n receivers in this process on one store with a shared
// webhook secret and no API token, each config changed by tweaks; they stop
// when ctx is cancelled.
func startReplicas(t *testing.T, ctx context.Context, n int, dsn, secret string, tweaks ...func(*Config)) []replica {
	t.Helper()
	out := make([]replica, n)
	for i := range out {
		pub, adm := freeAddr(t), freeAddr(t)
		cfg := testConfig(t, dsn, func(c *Config) {
			c.ListenAddr, c.AdminAddr, c.WebhookSecret, c.LogLevel = pub, adm, secret, "warn"
			for _, tweak := range tweaks {
				tweak(c)
			}
		})
		out[i] = replica{hookURL: "http://" + pub + "/hooks/prolific", adminURL: "http://" + adm, errc: make(chan error, 1)}
		log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Int("replica", i).Logger()
		go func() { out[i].errc <- serve(ctx, cfg, log, nil) }()
	}
	for _, r := range out {
		waitReady(t, r.adminURL, r.errc)
	}
	return out
}

// stopReplicas cancels the replicas' context and waits for a clean stop.
func stopReplicas(t *testing.T, cancel context.CancelFunc, rs []replica) {
	t.Helper()
	cancel()
	for i, r := range rs {
		waitStopped(t, r.errc, fmt.Sprintf("replica %d", i), 15*time.Second)
	}
}

// TestReplicasShareOnePostgres runs three receivers on one PostgreSQL
// schema, sends them a few thousand events round-robin with duplicates
// re-sent to another replica, and checks that every acknowledged event is
// stored exactly once and that the projections hold, for every submission
// and study, the status of its newest event (by X-Timestamp, then lifecycle
// stage). Then it races one event to all three replicas at once, twenty
// times: exactly one replica may answer "stored".
func TestReplicasShareOnePostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const secret = "replicas-shared-secret-not-real"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rs := startReplicas(t, ctx, 3, dsn, secret)

	acked := filepath.Join(t.TempDir(), "acked.txt")
	f, err := os.Create(acked)
	if err != nil {
		t.Fatal(err)
	}
	targets := make([]string, len(rs))
	for i, r := range rs {
		targets[i] = r.hookURL
	}
	// 3,000 events, or as many as 25 s allow on a loaded machine under -race.
	rep, err := loadgen.Run(ctx, loadgen.Config{
		Targets: targets, Secret: secret, Connections: 16, Count: 3000, Duration: 25 * time.Second,
		Duplicates: 0.1, Studies: 10, Timeout: 20 * time.Second, Acked: f, Seed: 42,
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("loadgen: %v", err)
	}
	t.Logf("load: %d requests (%d duplicates) in %s, %d 2xx, codes %v, errors %v, p99 %s",
		rep.Requests, rep.Duplicates, time.Duration(rep.Elapsed).Round(time.Millisecond), rep.OK,
		rep.StatusCodes, rep.Errors, rep.Latency.P99)
	if rep.OK != rep.Requests || rep.Requests < 500 {
		t.Fatalf("load: %d of %d requests answered 2xx, want all of at least 500", rep.OK, rep.Requests)
	}
	if rep.Duplicates == 0 {
		t.Fatal("load re-sent no event to a second replica")
	}

	// One database: any replica's read API sees every replica's writes.
	res, err := loadgen.CheckAcked(ctx, rs[1].adminURL, "", acked)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if !res.OK() || res.Stored != res.Acked || int64(res.Acked) != rep.Requests-rep.Duplicates {
		t.Fatalf("check: %+v; want every one of %d distinct events stored exactly once", res, rep.Requests-rep.Duplicates)
	}
	checkProjections(t, rs[2].adminURL)

	raceOneEvent(t, rs, secret, 20)
	stopReplicas(t, cancel, rs)
}

// checkProjections recomputes every status projection from the stored
// events and compares it with the read API.
func checkProjections(t *testing.T, adminURL string) {
	t.Helper()
	type newest struct {
		at       time.Time
		rank     int
		statuses map[string]bool // several only when they tie on time and rank
	}
	want := map[string]map[string]*newest{"submission": {}, "study": {}}
	for _, e := range allEvents(t, adminURL) {
		kind := ""
		switch e.EventType {
		case prolific.EventSubmissionStatusChange:
			kind = "submission"
		case prolific.EventStudyStatusChange:
			kind = "study"
		default:
			continue
		}
		rank := store.StatusRank(e.EventType, e.Status)
		n := want[kind][e.ResourceID]
		switch {
		case n == nil || e.EventTime.After(n.at) || (e.EventTime.Equal(n.at) && rank > n.rank):
			want[kind][e.ResourceID] = &newest{at: e.EventTime, rank: rank, statuses: map[string]bool{e.Status: true}}
		case e.EventTime.Equal(n.at) && rank == n.rank:
			n.statuses[e.Status] = true
		}
	}
	if len(want["submission"]) == 0 || len(want["study"]) == 0 {
		t.Fatalf("%d submissions and %d studies with status events, want some of each", len(want["submission"]), len(want["study"]))
	}
	ids := make([]string, 0, len(want["submission"]))
	for id := range want["submission"] {
		ids = append(ids, id)
	}
	var (
		mu    sync.Mutex
		wrong []string
	)
	err := parallel(len(ids), 4, func(i int) error {
		var got struct {
			Status string `json:"status"`
		}
		code, err := fetchJSON(adminURL+"/api/v1/submissions/"+ids[i], &got)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("GET submission %s: %d %v", ids[i], code, err)
		}
		if w := want["submission"][ids[i]]; !w.statuses[got.Status] {
			mu.Lock()
			wrong = append(wrong, fmt.Sprintf("submission %s: %q, want one of %v", ids[i], got.Status, w.statuses))
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var studies struct {
		Studies []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"studies"`
	}
	if code, err := fetchJSON(adminURL+"/api/v1/studies", &studies); err != nil || code != http.StatusOK {
		t.Fatalf("GET studies: %d %v", code, err)
	}
	checked := 0
	for _, s := range studies.Studies {
		if w, ok := want["study"][s.ID]; ok {
			checked++
			if !w.statuses[s.Status] {
				wrong = append(wrong, fmt.Sprintf("study %s: %q, want one of %v", s.ID, s.Status, w.statuses))
			}
		}
	}
	if checked != len(want["study"]) {
		t.Errorf("studies listing has %d of the %d studies with status events", checked, len(want["study"]))
	}
	if len(wrong) > 0 {
		t.Fatalf("%d projections differ from their newest stored event:\n%s", len(wrong), strings.Join(wrong[:min(len(wrong), 20)], "\n"))
	}
	t.Logf("projections match the newest stored event for %d submissions and %d studies", len(ids), checked)
}

// raceOneEvent sends one new event to every replica at the same moment,
// rounds times, and asserts exactly one replica stored it each time.
func raceOneEvent(t *testing.T, rs []replica, secret string, rounds int) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	for round := range rounds {
		id := prolifictest.NewID()
		body := fmt.Sprintf(`{"resource_id": %q, "event_type": "submission.status.change", "participant_id": %q, "status": "RESERVED"}`,
			prolifictest.NewID(), prolifictest.NewID())
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		sig := verify.Sign(secret, ts, []byte(body))
		start := make(chan struct{})
		answers := make([]string, len(rs))
		var wg sync.WaitGroup
		for i, r := range rs {
			req, err := http.NewRequest(http.MethodPost, r.hookURL, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(prolific.HeaderEventID, id)
			req.Header.Set(prolific.HeaderTimestamp, ts)
			req.Header.Set(prolific.HeaderRequestTimestamp, ts)
			req.Header.Set(prolific.HeaderSignature, sig)
			wg.Go(func() {
				<-start
				resp, err := client.Do(req)
				if err != nil {
					answers[i] = "error: " + err.Error()
					return
				}
				defer resp.Body.Close()
				var out struct {
					Status string `json:"status"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
					answers[i] = fmt.Sprintf("status %d %v", resp.StatusCode, err)
					return
				}
				answers[i] = out.Status
			})
		}
		close(start)
		wg.Wait()
		stored, dup := 0, 0
		for _, a := range answers {
			switch a {
			case "stored":
				stored++
			case "duplicate":
				dup++
			}
		}
		if stored != 1 || dup != len(rs)-1 {
			t.Errorf("round %d: answers %v, want one stored and %d duplicate", round, answers, len(rs)-1)
		}
		for _, r := range rs {
			var ev storedEvent
			if code, err := fetchJSON(r.adminURL+"/api/v1/events/"+id, &ev); err != nil || code != http.StatusOK || ev.EventID != id {
				t.Errorf("round %d: GET event via %s: %d %v %q", round, r.adminURL, code, err, ev.EventID)
			}
		}
	}
}
