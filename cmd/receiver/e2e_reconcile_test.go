package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

// TestE2EReconcileAfterOutage: the receiver is stopped while studies run
// to completion and Prolific's retries run out; started again, one
// reconciliation pass brings every study and submission in line with the
// fake's, nothing is stored twice, and the metrics say what was recovered.
func TestE2EReconcileAfterOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: a few hundred participants and two receiver starts")
	}
	t.Parallel()
	outageScenario(t, "sqlite:"+filepath.Join(t.TempDir(), "receiver.db"), 1)
}

// TestE2EReconcileAfterOutageReplicas is the same with two replicas on one
// PostgreSQL database, of which exactly one does the work.
func TestE2EReconcileAfterOutageReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: a few hundred participants and two receiver starts")
	}
	dsn := pgtest.DSN(t)
	t.Parallel()
	outageScenario(t, dsn, 2)
}

// outageRig is the fake Prolific and the receivers of one scenario.
type outageRig struct {
	t                 *testing.T
	fake              *prolifictest.Fake
	token, workspace  string
	dsn, publicURL    string
	pubs, adms        []string
	logs              []*testkit.SyncBuffer
	cancel            context.CancelFunc
	errcs             []chan error
	started, firstRun time.Time
}

// start runs the receivers (same addresses every time) and waits until
// they are ready.
func (r *outageRig) start() {
	t := r.t
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.errcs, r.logs = cancel, nil, nil
	r.started = time.Now()
	for i := range r.pubs {
		cfg := testConfig(t, r.dsn, func(c *Config) {
			c.ListenAddr, c.AdminAddr = r.pubs[i], r.adms[i]
			c.APIToken, c.WorkspaceID, c.APIURL, c.PublicURL, c.AllowInsecureURL = r.token, r.workspace, r.fake.URL(), r.publicURL, true
			c.Bootstrap = true
			c.EnrichDebounce, c.APIRateLimit = 100*time.Millisecond, 200
			c.ReconcileInterval, c.ReconcileSettle = 15*time.Minute, 200*time.Millisecond
		})
		buf := new(testkit.SyncBuffer)
		log, err := newLogger(buf, cfg.LogLevel, cfg.LogFormat)
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- serve(ctx, cfg, log.With().Int("replica", i).Logger(), nil) }()
		r.logs, r.errcs = append(r.logs, buf), append(r.errcs, errc)
	}
	for i := range r.adms {
		waitReady(t, "http://"+r.adms[i], r.errcs[i])
	}
}

// stop stops the receivers and waits for them.
func (r *outageRig) stop() {
	r.cancel()
	for i, errc := range r.errcs {
		if !waitStopped(r.t, errc, fmt.Sprintf("receiver %d", i), 15*time.Second) {
			r.t.FailNow()
		}
	}
}

// metricAll sums a metric (with labels) over the replicas.
func (r *outageRig) metricAll(name string, labels map[string]string) float64 {
	sum := 0.0
	for _, a := range r.adms {
		if v, ok := testkit.Sample(scrape(r.t, "http://"+a)[name], labels); ok {
			sum += v
		}
	}
	return sum
}

// waitPass waits until some replica reports a full pass that succeeded
// after since.
func (r *outageRig) waitPass(since time.Time, within time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, a := range r.adms {
			v, _ := testkit.Sample(scrape(r.t, "http://"+a)["receiver_reconcile_last_success_timestamp_seconds"], nil)
			if v >= float64(since.UnixNano())/1e9 {
				return
			}
		}
		if time.Now().After(deadline) {
			for i, l := range r.logs {
				r.t.Logf("receiver %d log:\n%s", i, tail(l.String(), 4000))
			}
			r.t.Fatalf("no successful reconciliation pass within %s", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logProblems logs the warnings and errors the receivers of the last
// start logged, then the tail of each log.
func (r *outageRig) logProblems() {
	for i, l := range r.logs {
		var problems []string
		for line := range strings.Lines(l.String()) {
			if strings.Contains(line, `"level":"warn"`) || strings.Contains(line, `"level":"error"`) {
				problems = append(problems, line)
			}
		}
		r.t.Logf("receiver %d: %d warnings and errors, the last ones:\n%s", i, len(problems),
			strings.Join(problems[max(0, len(problems)-30):], ""))
		r.t.Logf("receiver %d log:\n%s", i, tail(l.String(), 4000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func outageScenario(t *testing.T, dsn string, replicas int) {
	const token, workspace = "e2e-recon-token-not-real", "0000000000000000000000e5"
	fake := prolifictest.New(prolifictest.Options{
		Tokens: []string{token}, Workspaces: []string{workspace}, AllowHTTPTargets: true,
		TimeScale: e2eTimeScale, MaxRetries: 3, DeliveryTimeout: 2 * time.Second,
	})
	fake.Start()
	defer fake.Close()
	r := &outageRig{t: t, fake: fake, token: token, workspace: workspace, dsn: dsn}
	for range replicas {
		r.pubs, r.adms = append(r.pubs, freeAddr(t)), append(r.adms, freeAddr(t))
	}
	// Behind one load balancer: Prolific calls the first replica's address.
	r.publicURL = "http://" + r.pubs[0] + "/hooks/prolific"
	t.Cleanup(func() {
		if t.Failed() {
			r.logProblems()
		}
	})

	// Each phase has its own bound, so that a slow phase on a loaded
	// machine does not eat into the next one's time.
	phase := func(d time.Duration) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		t.Cleanup(cancel)
		return ctx
	}

	// Up: bootstrap, the start-up pass, and a small study delivered live.
	r.start()
	r.waitPass(r.started, time.Minute)
	ctx := phase(2 * time.Minute)
	live, err := fake.SimulateStudy(ctx, prolifictest.SimConfig{WorkspaceID: workspace, Name: "live", Places: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}

	// A pass of this first start may already have backfilled a live
	// delivery that failed an attempt on a loaded machine (its webhook
	// retry is then a duplicate); the counters of this start end with it.
	apiBefore := listSources(t, "http://"+r.adms[0])["api"]

	// Down: one study while the submission subscription is disabled (its
	// events are never logged), then a study of several hundred
	// participants; every delivery's retries run out.
	r.stop()
	var subSub string
	for _, s := range fake.Subscriptions() {
		if s.EventType == prolific.EventSubmissionStatusChange && s.Enabled {
			subSub = s.ID
		}
	}
	fake.SetSubscriptionEnabled(subSub, false)
	ctx = phase(3 * time.Minute)
	lost, err := fake.SimulateStudy(ctx, prolifictest.SimConfig{WorkspaceID: workspace, Name: "lost", Places: 20,
		ReturnRate: 0.2, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	fake.SetSubscriptionEnabled(subSub, true)
	big, err := fake.SimulateStudy(ctx, prolifictest.SimConfig{WorkspaceID: workspace, Name: "big", Places: 300,
		Duration: 40 * time.Minute, ReturnRate: 0.15, TimeoutRate: 0.1, RejectRate: 0.1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	st := fake.Stats()
	t.Logf("outage: %d + %d events emitted, deliveries %+v", lost.EventsEmitted, big.EventsEmitted, st)
	if st.Exhausted < big.EventsEmitted {
		t.Fatalf("fake gave up on %d deliveries, want at least the big study's %d", st.Exhausted, big.EventsEmitted)
	}

	// Up again: within one pass everything matches the fake. On a loaded
	// machine the pass has been seen to take over two minutes.
	r.start()
	r.waitPass(r.started, 6*time.Minute)
	t.Logf("restarted: the first pass succeeded %s after the start", time.Since(r.started).Round(time.Millisecond))
	for _, res := range []prolifictest.SimResult{live, lost, big} {
		want, _ := fake.StudyState(res.StudyID)
		var got studyView
		if code, err := fetchJSON("http://"+r.adms[len(r.adms)-1]+"/api/v1/studies/"+res.StudyID, &got); err != nil || code != http.StatusOK {
			t.Fatalf("GET study %s: %d %v", res.StudyID, code, err)
		}
		if d := studyMismatch(got, want, 0); d != "" {
			t.Errorf("study %s after one pass: %s", res.StudyID, d)
		}
		checkSubmissions(t, "http://"+r.adms[0], want.Submissions)
	}

	// Nothing stored twice: every delivery is found, the listing holds
	// each event once, and the counters agree with it.
	ctx = phase(3 * time.Minute)
	client := prolific.New(fake.URL(), token)
	var subs []prolific.Subscription
	for _, s := range fake.Subscriptions() {
		subs = append(subs, prolific.Subscription{ID: s.ID, EventType: s.EventType})
	}
	deliveries := deliveryLog(t, ctx, client, subs)
	adminURL := "http://" + r.adms[0]
	for id := range deliveries {
		var e storedEvent
		if code, err := fetchJSON(adminURL+"/api/v1/events/"+id, &e); err != nil || code != http.StatusOK {
			t.Fatalf("delivery %s not stored: %d %v", id, code, err)
		}
	}
	bySource := listSources(t, adminURL)
	wantLost, _ := fake.StudyState(lost.StudyID)
	// A save that failed may still have been committed (its commit timed
	// out on a loaded database): the pass then fails, and its retry finds
	// the event present. So the listing is bounded by the events counted
	// stored and those counted stored or failed.
	stored := int(r.metricAll("receiver_reconcile_events_total", map[string]string{"source": "api", "outcome": "stored"}))
	failed := int(r.metricAll("receiver_reconcile_events_total", map[string]string{"source": "api", "outcome": "error"}))
	if api := bySource["api"] - apiBefore; api < stored || api > stored+failed {
		t.Errorf("events_total{api} summed over replicas: %d stored and %d failed, with %d api events listed (%d of them before the restart; none stored twice)",
			stored, failed, bySource["api"], apiBefore)
	}
	if failed > 0 {
		t.Logf("%d saves of backfilled events failed; the pass was run again", failed)
	}
	if bySource["api"] < big.EventsEmitted {
		t.Errorf("%d backfilled events listed, want at least the big study's %d", bySource["api"], big.EventsEmitted)
	}
	if got := r.metricAll("receiver_reconcile_corrections_total", map[string]string{"kind": "submission"}); int(got) != len(wantLost.Submissions) {
		t.Errorf("corrections_total{submission} = %v, want %d (the study whose submission events were never logged)", got, len(wantLost.Submissions))
	}
	if bySource["reconcile"] != len(wantLost.Submissions) {
		t.Errorf("%d reconcile events listed, want %d", bySource["reconcile"], len(wantLost.Submissions))
	}
	if replicas > 1 {
		workers := 0
		for _, l := range r.logs {
			if strings.Contains(l.String(), `"corrections":`+fmt.Sprint(len(wantLost.Submissions))) {
				workers++
			}
		}
		if workers != 1 {
			t.Errorf("%d replicas logged the recovering pass, want exactly 1", workers)
		}
	}

	// The webhook path works as before, and `receiver reconcile` finds
	// nothing more to do.
	ids, err := fake.Emit(workspace, prolific.EventStudyStatusChange, "0000000000000000000000aa", prolifictest.F("status", "ACTIVE"))
	if err != nil || fake.WaitIdle(ctx) != nil {
		t.Fatalf("Emit: %v", err)
	}
	var hooked struct {
		Source string `json:"source"`
	}
	if code, err := fetchJSON(adminURL+"/api/v1/events/"+ids[0], &hooked); err != nil || code != http.StatusOK || hooked.Source != "webhook" {
		t.Errorf("webhook after the pass: %d %v source %q, want stored from the webhook", code, err, hooked.Source)
	}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"receiver", "reconcile", "-admin-url", "http://" + r.adms[len(r.adms)-1]}, &out, &errOut); err != nil {
		t.Fatalf("receiver reconcile: %v\n%s%s", err, out.String(), errOut.String())
	}
	for _, line := range []string{"stored           0", "corrections      0"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("receiver reconcile printed:\n%s\nwant a line %q", out.String(), line)
		}
	}
	r.stop()
	for i, l := range r.logs {
		if strings.Contains(l.String(), token) {
			t.Errorf("receiver %d logged the API token", i)
		}
	}
}

// listSources counts the listed events by source and fails on an event
// listed twice.
func listSources(t *testing.T, adminURL string) map[string]int {
	t.Helper()
	out := map[string]int{}
	seen := map[string]bool{}
	before := ""
	for range 1000 {
		var page struct {
			Events []struct {
				EventID string `json:"event_id"`
				Source  string `json:"source"`
			} `json:"events"`
			NextBefore int64 `json:"next_before"`
		}
		if code, err := fetchJSON(adminURL+"/api/v1/events?limit=1000"+before, &page); err != nil || code != http.StatusOK {
			t.Fatalf("list events: %d %v", code, err)
		}
		for _, e := range page.Events {
			if seen[e.EventID] {
				t.Errorf("event %s listed twice", e.EventID)
			}
			seen[e.EventID] = true
			out[e.Source]++
		}
		if page.NextBefore == 0 {
			return out
		}
		before = fmt.Sprintf("&before=%d", page.NextBefore)
	}
	t.Fatal("event listing did not end")
	return nil
}
