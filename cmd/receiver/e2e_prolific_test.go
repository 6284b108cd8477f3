package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/bootstrap"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

// e2eTimeScale makes the fake Prolific's first retry come within 100 ms
// (1 minute / 600) and a simulated 80-minute study run for 8 s.
const e2eTimeScale = 600

// nudgeThrottle is how long after the monitor's last secret refresh a
// bad-signature nudge may refresh again. The rotation step waits it out so
// that the first delivery signed with the new secret is the one that makes
// the receiver fetch it.
const nudgeThrottle = bootstrap.NudgeThrottle

// TestE2EProlificSimulatedStudy runs the receiver against the fake Prolific
// from start-up to a completed study: bootstrap fetches the signing secret
// and registers the subscriptions, deliveries fail on their first attempt
// now and then and are retried, every delivered event is stored exactly
// once, the enrichment worker brings the study in line with Prolific's own
// numbers (API and /metrics), and a secret rotated in Prolific is picked up
// without a restart.
func TestE2EProlificSimulatedStudy(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: takes over 30 s (waits out the secret monitor's 30 s nudge throttle)")
	}
	// Mostly waiting: let the package's other long test run meanwhile.
	t.Parallel()
	const token, workspace = "e2e-api-token-not-real", "0000000000000000000000e2"
	flaky := &flakyDelivery{next: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}, attempts: map[string]int{}}
	fake := prolifictest.New(prolifictest.Options{
		Tokens: []string{token}, Workspaces: []string{workspace}, AllowHTTPTargets: true,
		TimeScale: e2eTimeScale, MaxRetries: 11, DeliveryTimeout: 5 * time.Second,
		Client: &http.Client{Transport: flaky, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	})
	fake.Start()
	defer fake.Close()

	pub, adm := freeAddr(t), freeAddr(t)
	publicURL := "http://" + pub + "/hooks/prolific"
	eventTypes := []string{prolific.EventStudyStatusChange, prolific.EventStudyProgressChange,
		prolific.EventSubmissionStatusChange, prolific.EventStudyHighReturnRate}
	cfg := testConfig(t, "sqlite:"+filepath.Join(t.TempDir(), "receiver.db"), func(c *Config) {
		c.ListenAddr, c.AdminAddr = pub, adm
		c.APIToken, c.WorkspaceID, c.APIURL, c.PublicURL, c.AllowInsecureURL = token, workspace, fake.URL(), publicURL, true
		c.Bootstrap, c.EventTypes = true, eventTypes
		c.EnrichDebounce, c.APIRateLimit = 100*time.Millisecond, 50
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs, errc := runReceiver(t, ctx, cfg)
	adminURL := "http://" + adm
	monitorStarted := time.Now()
	firstSecret, ok := fake.Secret(workspace)
	if !ok {
		t.Fatal("bootstrap left the workspace without a signing secret")
	}

	// (a) One enabled, confirmed subscription per type, delivering to us.
	client := prolific.New(fake.URL(), token)
	subs := checkSubscriptions(t, ctx, fake, client, workspace, publicURL, eventTypes)

	// (b, c) A simulated study; the flaky transport fails some first attempts.
	// It runs for 8 s: flat out, one study's progress changes would share
	// their signed content (body and request second) more than
	// store.MaxAliases times, and the IDs past the cap cannot be looked up.
	simCtx, simCancel := context.WithTimeout(ctx, 30*time.Second)
	defer simCancel()
	res, err := fake.SimulateStudy(simCtx, prolifictest.SimConfig{
		WorkspaceID: workspace, Name: "E2E study", Places: 100, Duration: 80 * time.Minute,
		ReturnRate: 0.25, TimeoutRate: 0.1, RejectRate: 0.1, Seed: 7,
	})
	if err != nil {
		t.Fatalf("SimulateStudy: %v", err)
	}
	// Delivering the study's events (and their retries) has its own bound:
	// on a loaded machine it has been seen to outlast the simulation by
	// more than 20 s.
	idleCtx, idleCancel := context.WithTimeout(ctx, 3*time.Minute)
	defer idleCancel()
	if err := fake.WaitIdle(idleCtx); err != nil {
		t.Fatalf("deliveries not done: %v (stats %+v)", err, fake.Stats())
	}
	dropped, lost := flaky.counts()
	t.Logf("simulated %d places: %d events, deliveries %+v; first attempts refused %d, acks lost %d",
		res.PlacesTotal, res.EventsEmitted, fake.Stats(), dropped, lost)
	if dropped == 0 || lost == 0 {
		t.Fatalf("flaky transport refused %d first attempts and lost %d acks, want both > 0", dropped, lost)
	}

	// (d) Every delivered event is stored exactly once.
	deliveries := deliveryLog(t, ctx, client, subs)
	if len(deliveries) != res.EventsEmitted {
		t.Fatalf("delivery log has %d entries, want one per event emitted: %d", len(deliveries), res.EventsEmitted)
	}
	checkStoredOnce(t, adminURL, deliveries)

	// (e) Enrichment catches up with Prolific's own numbers.
	want, ok := fake.StudyState(res.StudyID)
	if !ok {
		t.Fatalf("fake has no study %s", res.StudyID)
	}
	highReturn := 0
	for _, d := range deliveries {
		if d.EventType == prolific.EventStudyHighReturnRate {
			highReturn++
		}
	}
	if highReturn != 1 {
		t.Fatalf("%d study.has_high_return_rate deliveries, want 1 (return rate 0.25 is above the 0.2 threshold)", highReturn)
	}
	waitStudyMatches(t, adminURL, want, highReturn, time.Minute)
	checkSubmissions(t, adminURL, want.Submissions)
	checkStudyMetrics(t, adminURL, want, eventTypes)

	// (f) Secret rotation without a restart.
	if d := time.Until(monitorStarted.Add(nudgeThrottle + time.Second)); d > 0 {
		t.Logf("waiting %s for the monitor's nudge throttle before rotating the secret", d.Round(time.Second))
		time.Sleep(d)
	}
	rotated := rotateAndEmit(t, ctx, fake, workspace)
	after := deliveryLog(t, ctx, client, subs)
	checkStoredOnce(t, adminURL, after)
	for _, id := range rotated {
		if after[id].Status != prolifictest.StatusSucceeded {
			t.Errorf("delivery %s after rotation: %s, want %s", id, after[id].Status, prolifictest.StatusSucceeded)
		}
	}
	if n := metricSum(t, adminURL, "receiver_verification_failures_total"); n < 1 {
		t.Errorf("receiver_verification_failures_total = %v, want >= 1 (the first delivery signed with the new secret)", n)
	}

	cancel()
	if !waitStopped(t, errc, "serve", 15*time.Second) {
		t.FailNow()
	}
	newSecret, _ := fake.Secret(workspace)
	out := logs.String()
	for name, s := range map[string]string{"API token": token, "first secret": firstSecret, "rotated secret": newSecret} {
		if strings.Contains(out, s) {
			t.Errorf("the %s appears in the logs", name)
		}
	}
}

// flakyDelivery is the fake Prolific's transport for deliveries. It fails the
// first attempt of about two events in five, chosen by a hash of the
// X-Event-ID, in the two ways Prolific can see a receiver fail: half are
// refused with 503 before reaching the receiver (it was down), half reach it
// and are stored but the 200 is replaced by 503 (the acknowledgement was
// lost), so the retry must come back as a duplicate.
type flakyDelivery struct {
	next          http.RoundTripper
	mu            sync.Mutex
	attempts      map[string]int
	dropped, lost int
}

func (f *flakyDelivery) RoundTrip(req *http.Request) (*http.Response, error) {
	id := ""
	//lint:ignore SA1008 the fake sets Prolific's exact spelling, X-Event-ID, not the canonical X-Event-Id
	if v := req.Header[prolific.HeaderEventID]; len(v) > 0 {
		id = v[0]
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	f.mu.Lock()
	f.attempts[id]++
	first := f.attempts[id] == 1
	drop, lose := first && h.Sum32()%5 == 0, first && h.Sum32()%5 == 1
	if drop {
		f.dropped++
	}
	if lose {
		f.lost++
	}
	f.mu.Unlock()
	if drop {
		if req.Body != nil {
			req.Body.Close()
		}
		return unavailable(req), nil
	}
	resp, err := f.next.RoundTrip(req)
	if err != nil || !lose {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return unavailable(req), nil
}

func (f *flakyDelivery) counts() (dropped, lost int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropped, f.lost
}

func unavailable(req *http.Request) *http.Response {
	return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{},
		Body: io.NopCloser(strings.NewReader("")), Request: req}
}

// checkSubscriptions asserts exactly one enabled, confirmed subscription per
// event type targets publicURL, through the real client, and returns them.
func checkSubscriptions(t *testing.T, ctx context.Context, fake *prolifictest.Fake, client *prolific.Client,
	workspace, publicURL string, eventTypes []string) []prolific.Subscription {
	t.Helper()
	subs, err := client.Subscriptions(ctx, workspace, true)
	if err != nil {
		t.Fatalf("list subscriptions: %v", err)
	}
	byType := map[string]int{}
	for _, s := range subs {
		byType[s.EventType]++
		if s.TargetURL != publicURL {
			t.Errorf("subscription %s (%s) targets %q, want %q", s.ID, s.EventType, s.TargetURL, publicURL)
		}
	}
	for _, et := range eventTypes {
		if byType[et] != 1 {
			t.Errorf("%d enabled subscriptions for %s, want 1", byType[et], et)
		}
	}
	for _, s := range fake.Subscriptions() {
		if !s.Enabled || !s.Confirmed {
			t.Errorf("fake subscription %s (%s): enabled %v confirmed %v, want both", s.ID, s.EventType, s.Enabled, s.Confirmed)
		}
	}
	if len(subs) != len(eventTypes) {
		t.Fatalf("%d enabled subscriptions, want %d", len(subs), len(eventTypes))
	}
	return subs
}

// deliveryLog reads every subscription's whole delivery log through the
// real client, keyed by delivery ID (the X-Event-ID).
func deliveryLog(t *testing.T, ctx context.Context, client *prolific.Client, subs []prolific.Subscription) map[string]prolific.SubscriptionEvent {
	t.Helper()
	const page = 1000
	out := map[string]prolific.SubscriptionEvent{}
	for _, s := range subs {
		for offset := 0; ; offset += page {
			evs, err := client.SubscriptionEvents(ctx, s.ID, prolific.EventsQuery{Offset: offset, Limit: page})
			if err != nil {
				t.Fatalf("delivery log of %s: %v", s.EventType, err)
			}
			for _, e := range evs {
				if _, dup := out[e.ID]; dup {
					t.Fatalf("delivery log lists %s twice", e.ID)
				}
				out[e.ID] = e
			}
			if len(evs) < page {
				break
			}
		}
	}
	return out
}

// storedEvent is GET /api/v1/events/{id}.
type storedEvent struct {
	EventID    string          `json:"event_id"`
	EventType  string          `json:"event_type"`
	ResourceID string          `json:"resource_id"`
	Status     string          `json:"status"`
	EventTime  time.Time       `json:"event_time"`
	Body       json.RawMessage `json:"body"`
}

// checkStoredOnce asserts that every delivery succeeded and is stored with
// its payload, and that the event listing holds each stored event once and
// nothing else. A delivery whose signed content equals an earlier one's (two
// progress changes of one study signed in the same second) is stored as an
// alias of it: GET finds it under its own ID but it is not listed again.
func checkStoredOnce(t *testing.T, adminURL string, deliveries map[string]prolific.SubscriptionEvent) {
	t.Helper()
	ids := make([]string, 0, len(deliveries))
	for id, d := range deliveries {
		if d.Status != prolifictest.StatusSucceeded {
			t.Errorf("delivery %s (%s): status %s, want %s", id, d.EventType, d.Status, prolifictest.StatusSucceeded)
		}
		ids = append(ids, id)
	}
	got := make([]storedEvent, len(ids))
	var (
		mu      sync.Mutex
		missing []string
	)
	err := parallel(len(ids), 4, func(i int) error {
		code, err := fetchJSON(adminURL+"/api/v1/events/"+ids[i], &got[i])
		if err == nil && code == http.StatusNotFound {
			mu.Lock()
			missing = append(missing, ids[i]+" ("+deliveries[ids[i]].EventType+")")
			mu.Unlock()
		} else if err == nil && code != http.StatusOK {
			err = fmt.Errorf("GET event %s: status %d, want 200", ids[i], code)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d delivered events not stored: %s", len(missing), len(ids), strings.Join(missing[:min(len(missing), 10)], ", "))
	}
	primary := map[string]bool{}
	aliases := 0
	for i, id := range ids {
		d, e := deliveries[id], got[i]
		if e.EventType != d.EventType || e.ResourceID != d.ResourceID || compact(e.Body) != compact(d.Payload) {
			t.Errorf("event %s stored as %s %s %s, want %s %s %s", id, e.EventType, e.ResourceID, e.Body,
				d.EventType, d.ResourceID, d.Payload)
		}
		if e.EventID == id {
			primary[id] = true
		} else {
			aliases++
		}
	}
	for i, id := range ids {
		if got[i].EventID != id && !primary[got[i].EventID] {
			t.Errorf("event %s is an alias of %s, which is not stored under its own ID", id, got[i].EventID)
		}
	}
	listed := allEvents(t, adminURL)
	seen := map[string]bool{}
	for _, e := range listed {
		if seen[e.EventID] {
			t.Errorf("event %s listed twice", e.EventID)
		}
		seen[e.EventID] = true
		if !primary[e.EventID] {
			t.Errorf("listed event %s is not a delivery stored under its own ID", e.EventID)
		}
	}
	if len(listed) != len(primary) {
		t.Errorf("listing has %d events, want %d (deliveries %d, aliases %d)", len(listed), len(primary), len(ids), aliases)
	}
	t.Logf("%d deliveries stored once: %d events, %d aliases of equal signed content", len(ids), len(primary), aliases)
}

// studyView is GET /api/v1/studies/{id}.
type studyView struct {
	Status               string                       `json:"status"`
	PlacesTaken          int                          `json:"places_taken"`
	PlacesTotal          int                          `json:"places_total"`
	NumberOfSubmissions  int                          `json:"number_of_submissions"`
	SubmissionCounts     map[string]int               `json:"submission_counts"`
	HighReturnRateEvents int                          `json:"high_return_rate_events"`
	ByStatus             map[string][]json.RawMessage `json:"submissions_by_status"`
}

// studyMismatch describes the first difference between the receiver's view
// of a study and the fake's state, or returns "".
func studyMismatch(got studyView, want prolifictest.StudyState, highReturn int) string {
	if got.Status != want.Status || got.PlacesTaken != want.PlacesTaken || got.PlacesTotal != want.TotalAvailablePlaces ||
		got.NumberOfSubmissions != want.NumberOfSubmissions || got.HighReturnRateEvents != highReturn {
		return fmt.Sprintf("status %q places %d/%d submissions %d high-return %d, want %q %d/%d %d %d",
			got.Status, got.PlacesTaken, got.PlacesTotal, got.NumberOfSubmissions, got.HighReturnRateEvents,
			want.Status, want.PlacesTaken, want.TotalAvailablePlaces, want.NumberOfSubmissions, highReturn)
	}
	for status, n := range want.Counts {
		if status == "TOTAL" {
			continue
		}
		if got.SubmissionCounts[status] != n {
			return fmt.Sprintf("submission_counts[%s] = %d, want %d", status, got.SubmissionCounts[status], n)
		}
		if len(got.ByStatus[status]) != n {
			return fmt.Sprintf("%d submissions listed as %s, want %d (study of each submission learnt from the API)",
				len(got.ByStatus[status]), status, n)
		}
	}
	return ""
}

// waitStudyMatches polls the receiver's study until it equals the fake's.
func waitStudyMatches(t *testing.T, adminURL string, want prolifictest.StudyState, highReturn int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var got studyView
		code, err := fetchJSON(adminURL+"/api/v1/studies/"+want.ID, &got)
		diff := fmt.Sprintf("GET study: %d %v", code, err)
		if err == nil && code == http.StatusOK {
			if diff = studyMismatch(got, want, highReturn); diff == "" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("study %s not caught up within %s: %s", want.ID, within, diff)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkSubmissions asserts each submission's status, ordered by X-Timestamp
// from the webhooks, is the fake's final one.
func checkSubmissions(t *testing.T, adminURL string, want map[string]string) {
	t.Helper()
	for id, status := range want {
		var got struct {
			Status string `json:"status"`
		}
		if code, err := fetchJSON(adminURL+"/api/v1/submissions/"+id, &got); err != nil || code != http.StatusOK {
			t.Errorf("GET submission %s: %d %v", id, code, err)
			continue
		}
		if got.Status != status {
			t.Errorf("submission %s status %q, want %q", id, got.Status, status)
		}
	}
}

// checkStudyMetrics compares /metrics with the fake's study state.
func checkStudyMetrics(t *testing.T, adminURL string, want prolifictest.StudyState, eventTypes []string) {
	t.Helper()
	fams := scrape(t, adminURL)
	study := map[string]string{"study_id": want.ID}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"prolific_study_places_taken", study, float64(want.PlacesTaken)},
		{"prolific_study_total_available_places", study, float64(want.TotalAvailablePlaces)},
		{"prolific_study_status", map[string]string{"study_id": want.ID, "status": want.Status}, 1},
	}
	for status, n := range want.Counts {
		if status != "TOTAL" {
			checks = append(checks, struct {
				name   string
				labels map[string]string
				want   float64
			}{"prolific_study_submissions", map[string]string{"study_id": want.ID, "status": status}, float64(n)})
		}
	}
	for _, et := range eventTypes {
		checks = append(checks, struct {
			name   string
			labels map[string]string
			want   float64
		}{"receiver_subscription_enabled", map[string]string{"event_type": et}, 1})
	}
	for _, c := range checks {
		got, ok := testkit.Sample(fams[c.name], c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	promtoolCheckMetrics(t, adminURL)
}

// rotateAndEmit rotates the workspace's secret in the fake, emits one event
// of each type about a new study, waits for their delivery and returns their
// delivery IDs.
func rotateAndEmit(t *testing.T, ctx context.Context, fake *prolifictest.Fake, workspace string) []string {
	t.Helper()
	if _, err := fake.RotateSecret(workspace); err != nil {
		t.Fatal(err)
	}
	study := prolifictest.NewID()
	type emit struct {
		eventType, resourceID string
		fields                []prolifictest.Field
	}
	var ids []string
	for _, e := range []emit{
		{prolific.EventStudyStatusChange, study, []prolifictest.Field{prolifictest.F("metadata", prolifictest.Object{}), prolifictest.F("status", "ACTIVE")}},
		{prolific.EventStudyProgressChange, study, nil},
		{prolific.EventSubmissionStatusChange, prolifictest.NewID(), []prolifictest.Field{prolifictest.F("participant_id", prolifictest.NewID()), prolifictest.F("status", "RESERVED")}},
		{prolific.EventStudyHighReturnRate, study, []prolifictest.Field{prolifictest.F("metadata", prolifictest.Object{})}},
	} {
		got, err := fake.Emit(workspace, e.eventType, e.resourceID, e.fields...)
		if err != nil || len(got) != 1 {
			t.Fatalf("Emit %s: %v %v, want one delivery", e.eventType, got, err)
		}
		ids = append(ids, got...)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := fake.WaitIdle(wctx); err != nil {
		t.Fatalf("deliveries after rotation not done: %v (stats %+v)", err, fake.Stats())
	}
	return ids
}
