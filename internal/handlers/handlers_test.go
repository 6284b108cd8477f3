package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/delivery"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/verify"
)

const testSecret = "test-secret-not-real"

// testReceiver is a receiver on real loopback listeners over a real SQLite store.
type testReceiver struct {
	public, admin *httptest.Server
	store         store.Store
	metrics       *Metrics
	reg           *prometheus.Registry
	logs          *bytes.Buffer
}

type option func(*Deps)

func newTestReceiver(t *testing.T, opts ...option) *testReceiver {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "receiver.db"), store.Options{})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	logs := new(bytes.Buffer)
	d := Deps{
		Log:          zerolog.New(logs),
		Saver:        st,
		Reader:       st,
		Pinger:       st,
		Keyring:      verify.NewKeyring(testSecret, nil),
		Tolerance:    verify.DefaultTolerance,
		MaxBodyBytes: 4096,
		Metrics:      NewMetrics(reg, "test"),
		Gatherer:     reg,
	}
	for _, o := range opts {
		o(&d)
	}
	tr := &testReceiver{store: st, metrics: d.Metrics, reg: reg, logs: logs}
	tr.public = httptest.NewServer(NewPublic(d))
	tr.admin = httptest.NewServer(NewAdmin(d))
	t.Cleanup(tr.public.Close)
	t.Cleanup(tr.admin.Close)
	return tr
}

// post sends body signed with secret, as Prolific would.
func (tr *testReceiver) post(t *testing.T, secret, eventID string, eventTime time.Time, body []byte) (int, string) {
	t.Helper()
	req, err := delivery.NewRequest(context.Background(), tr.public.URL+"/hooks/prolific", secret, body,
		delivery.Headers{EventID: eventID, EventTime: eventTime, SentAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (tr *testReceiver) getJSON(t *testing.T, path string, v any) int {
	t.Helper()
	resp, err := http.Get(tr.admin.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}

func submissionBody(id, status string) []byte {
	return delivery.Sample(prolific.EventSubmissionStatusChange, id, status, "5f1e2d3c4b5a69788796a5b4")
}

func TestWebhookStatusCodes(t *testing.T) {
	tr := newTestReceiver(t)
	now := time.Now()
	good := submissionBody("6650a1b2c3d4e5f601234567", "AWAITING REVIEW")
	signed := func(mut func(r *http.Request)) *http.Request {
		req, _ := delivery.NewRequest(context.Background(), tr.public.URL+"/hooks/prolific", testSecret, good,
			delivery.Headers{EventID: delivery.NewID(), EventTime: now, SentAt: now})
		if mut != nil {
			mut(req)
		}
		return req
	}
	withBody := func(body []byte, secret string) *http.Request {
		req, _ := delivery.NewRequest(context.Background(), tr.public.URL+"/hooks/prolific", secret, body,
			delivery.Headers{EventID: delivery.NewID(), EventTime: now, SentAt: now})
		return req
	}
	tests := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"valid", signed(nil), http.StatusOK},
		{"missing signature", signed(func(r *http.Request) { r.Header.Del(prolific.HeaderSignature) }), http.StatusUnauthorized},
		{"wrong secret", withBody(good, "other-secret"), http.StatusUnauthorized},
		{"tampered body", func() *http.Request {
			r := signed(nil)
			r.Body = io.NopCloser(bytes.NewReader(bytes.Replace(good, []byte("AWAITING REVIEW"), []byte("APPROVED"), 1)))
			r.ContentLength = -1
			return r
		}(), http.StatusUnauthorized},
		{"stale timestamp", func() *http.Request {
			old := now.Add(-27 * time.Hour)
			r, _ := delivery.NewRequest(context.Background(), tr.public.URL+"/hooks/prolific", testSecret, good,
				delivery.Headers{EventID: delivery.NewID(), EventTime: old, SentAt: old})
			return r
		}(), http.StatusUnauthorized},
		{"missing timestamp", signed(func(r *http.Request) { r.Header.Del(prolific.HeaderRequestTimestamp) }), http.StatusUnauthorized},
		{"malformed JSON", withBody([]byte(`{"resource_id": "x", "event_type": `), testSecret), http.StatusBadRequest},
		{"missing status", withBody([]byte(`{"resource_id": "x", "event_type": "submission.status.change"}`), testSecret), http.StatusBadRequest},
		{"missing event id", signed(func(r *http.Request) { r.Header.Del(prolific.HeaderEventID) }), http.StatusBadRequest},
		{"bad X-Timestamp", signed(func(r *http.Request) { r.Header.Set(prolific.HeaderTimestamp, "yesterday") }), http.StatusBadRequest},
		{"too large", withBody(append(append([]byte(`{"resource_id": "x", "event_type": "big", "pad": "`), bytes.Repeat([]byte("a"), 5000)...), '"', '}'), testSecret), http.StatusRequestEntityTooLarge},
		{"unknown type", withBody([]byte(`{"resource_id": "abc", "event_type": "participant.created", "x": 1}`), testSecret), http.StatusOK},
		{"wrong method", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, tr.public.URL+"/hooks/prolific", nil)
			return r
		}(), http.StatusMethodNotAllowed},
		{"wrong path", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, tr.public.URL+"/hooks/other", strings.NewReader("{}"))
			return r
		}(), http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, body := do(t, tc.req)
			if got != tc.want {
				t.Errorf("status = %d (%s), want %d", got, body, tc.want)
			}
		})
	}
	var list struct{ Events []EventJSON }
	tr.getJSON(t, "/api/v1/events?limit=100", &list)
	if len(list.Events) != 2 {
		t.Errorf("stored %d events, want 2 (the valid one and the unknown type)", len(list.Events))
	}
	if got := testutil.ToFloat64(tr.metrics.VerificationFailures.WithLabelValues("bad_signature")); got != 2 {
		t.Errorf("bad_signature failures = %v, want 2", got)
	}
	if got := testutil.ToFloat64(tr.metrics.Rejections.WithLabelValues("too_large")); got != 1 {
		t.Errorf("too_large rejections = %v, want 1", got)
	}
}

func TestDuplicateStoredOnce(t *testing.T) {
	tr := newTestReceiver(t)
	body := submissionBody(delivery.NewID(), "ACTIVE")
	id := delivery.NewID()
	for i, want := range []string{"stored", "duplicate", "duplicate"} {
		code, resp := tr.post(t, testSecret, id, time.Now(), body)
		if code != http.StatusOK || !strings.Contains(resp, want) {
			t.Fatalf("delivery %d: got %d %s, want 200 %s", i, code, resp, want)
		}
	}
	var list struct{ Events []EventJSON }
	tr.getJSON(t, "/api/v1/events", &list)
	if len(list.Events) != 1 {
		t.Fatalf("stored %d events, want 1", len(list.Events))
	}
	if got := testutil.ToFloat64(tr.metrics.Webhooks.WithLabelValues(prolific.EventSubmissionStatusChange, "duplicate")); got != 2 {
		t.Errorf("duplicates counted = %v, want 2", got)
	}
}

func TestReplayWithNewUnsignedHeadersIsDuplicate(t *testing.T) {
	tr := newTestReceiver(t)
	sub := delivery.NewID()
	now := time.Now()
	body := submissionBody(sub, "RETURNED")
	req, _ := delivery.NewRequest(context.Background(), tr.public.URL+"/hooks/prolific", testSecret, body,
		delivery.Headers{EventID: delivery.NewID(), EventTime: now.Add(-time.Minute), SentAt: now})
	captured := req.Header.Clone()
	if code, resp := do(t, req); code != http.StatusOK {
		t.Fatalf("first delivery: %d %s", code, resp)
	}
	// A newer genuine status, then the captured request replayed with new unsigned headers.
	if code, _ := tr.post(t, testSecret, delivery.NewID(), now.Add(-30*time.Second), submissionBody(sub, "APPROVED")); code != http.StatusOK {
		t.Fatalf("second delivery: %d", code)
	}
	replay, _ := http.NewRequest(http.MethodPost, tr.public.URL+"/hooks/prolific", bytes.NewReader(body))
	replay.Header = captured
	replay.Header.Set(prolific.HeaderEventID, delivery.NewID())
	replay.Header.Set(prolific.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	code, resp := do(t, replay)
	if code != http.StatusOK || !strings.Contains(resp, "duplicate") {
		t.Fatalf("replay: got %d %s, want 200 duplicate", code, resp)
	}
	var s SubmissionJSON
	tr.getJSON(t, "/api/v1/submissions/"+sub, &s)
	if s.Status != "APPROVED" {
		t.Errorf("submission status = %q after replay, want APPROVED", s.Status)
	}
}

func TestOutOfOrderStatusesResolvedByXTimestamp(t *testing.T) {
	tr := newTestReceiver(t)
	sub := delivery.NewID()
	base := time.Now().Add(-time.Hour)
	// Delivered newest first: the older statuses must not move it back.
	for i, st := range []string{"APPROVED", "AWAITING REVIEW", "ACTIVE", "RESERVED"} {
		if code, resp := tr.post(t, testSecret, delivery.NewID(), base.Add(time.Duration(3-i)*time.Minute), submissionBody(sub, st)); code != http.StatusOK {
			t.Fatalf("post %s: %d %s", st, code, resp)
		}
	}
	var s SubmissionJSON
	if code := tr.getJSON(t, "/api/v1/submissions/"+sub, &s); code != http.StatusOK {
		t.Fatalf("GET submission: %d", code)
	}
	if s.Status != "APPROVED" {
		t.Errorf("status = %q, want APPROVED", s.Status)
	}

	study := delivery.NewID()
	studyBody := func(st string) []byte { return delivery.Sample(prolific.EventStudyStatusChange, study, st, "") }
	tr.post(t, testSecret, delivery.NewID(), base.Add(2*time.Minute), studyBody("COMPLETED"))
	tr.post(t, testSecret, delivery.NewID(), base.Add(1*time.Minute), studyBody("ACTIVE"))
	var sj StudyJSON
	tr.getJSON(t, "/api/v1/studies/"+study, &sj)
	if sj.Status != "COMPLETED" {
		t.Errorf("study status = %q, want COMPLETED", sj.Status)
	}
}

// failingSaver stands in for a store that cannot commit.
type failingSaver struct{ calls int }

func (f *failingSaver) Save(context.Context, *store.Event) (store.Outcome, error) {
	f.calls++
	return 0, errors.New("disk I/O error")
}

func TestStoreFailureIs503AndNothingAcknowledged(t *testing.T) {
	fs := &failingSaver{}
	tr := newTestReceiver(t, func(d *Deps) { d.Saver = fs })
	code, body := tr.post(t, testSecret, delivery.NewID(), time.Now(), submissionBody(delivery.NewID(), "ACTIVE"))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d (%s), want 503", code, body)
	}
	if fs.calls != 1 {
		t.Errorf("Save called %d times, want 1", fs.calls)
	}
	if got := testutil.ToFloat64(tr.metrics.StoreErrors); got != 1 {
		t.Errorf("store errors = %v, want 1", got)
	}
	if !strings.Contains(tr.logs.String(), "store_error") {
		t.Errorf("log lacks the store_error rejection: %s", tr.logs.String())
	}
}

func TestReadAPI(t *testing.T) {
	tr := newTestReceiver(t, func(d *Deps) { d.AdminToken = "admin-token" })
	sub, evID := delivery.NewID(), delivery.NewID()
	tr.post(t, testSecret, evID, time.Now(), submissionBody(sub, "AWAITING REVIEW"))

	if code := tr.getJSON(t, "/api/v1/events", nil); code != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", code)
	}
	get := func(path string, v any) int {
		req, _ := http.NewRequest(http.MethodGet, tr.admin.URL+path, nil)
		req.Header.Set("Authorization", "Bearer admin-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if v != nil {
			json.NewDecoder(resp.Body).Decode(v)
		}
		return resp.StatusCode
	}
	basic, _ := http.NewRequest(http.MethodGet, tr.admin.URL+"/api/v1/events", nil)
	basic.SetBasicAuth("anyone", "admin-token")
	if code, _ := do(t, basic); code != http.StatusOK {
		t.Errorf("Basic auth with the token as password: status %d, want 200", code)
	}
	basic.SetBasicAuth("anyone", "wrong")
	if code, _ := do(t, basic); code != http.StatusUnauthorized {
		t.Errorf("Basic auth with a wrong password: status %d, want 401", code)
	}
	var ev EventJSON
	if code := get("/api/v1/events/"+evID, &ev); code != http.StatusOK {
		t.Fatalf("GET event: %d", code)
	}
	if ev.EventID != evID || ev.EventType != prolific.EventSubmissionStatusChange || ev.ResourceID != sub ||
		ev.Status != "AWAITING REVIEW" || ev.ReceivedAt.IsZero() || ev.SignatureForm != "raw" || len(ev.Body) == 0 {
		t.Errorf("event = %+v, want the posted one", ev)
	}
	// X-Event-ID is any printable ASCII; one holding "/" is found by its escaped form.
	slashID := "evt/" + delivery.NewID()
	tr.post(t, testSecret, slashID, time.Now(), submissionBody(sub, "APPROVED"))
	if code := get("/api/v1/events/"+url.PathEscape(slashID), &ev); code != http.StatusOK || ev.EventID != slashID {
		t.Errorf("GET event %q by its escaped ID: %d, event %q", slashID, code, ev.EventID)
	}
	var list struct{ Events []EventJSON }
	get("/api/v1/events?event_type=study.status.change", &list)
	if len(list.Events) != 0 {
		t.Errorf("filter by type: %d events, want 0", len(list.Events))
	}
	for path, want := range map[string]int{
		"/api/v1/events/" + delivery.NewID():  http.StatusNotFound,
		"/api/v1/studies/" + delivery.NewID(): http.StatusNotFound,
		"/api/v1/events?limit=0":              http.StatusBadRequest,
		"/api/v1/events?limit=abc":            http.StatusBadRequest,
		"/api/v1/submissions/" + sub:          http.StatusOK,
		"/api/v1/studies":                     http.StatusOK,
	} {
		if code := get(path, nil); code != want {
			t.Errorf("GET %s = %d, want %d", path, code, want)
		}
	}
}

// TestEventFeed: after= pages oldest first and next_after carries on from
// the last event, so following it returns every event once.
func TestEventFeed(t *testing.T) {
	tr := newTestReceiver(t)
	var sent []string
	for i := range 5 {
		id := delivery.NewID()
		if code, resp := tr.post(t, testSecret, id, time.Now(), submissionBody(delivery.NewID(), "ACTIVE")); code != http.StatusOK {
			t.Fatalf("delivery %d: %d %s", i, code, resp)
		}
		sent = append(sent, id)
	}
	type page struct {
		Events     []EventJSON
		NextAfter  *int64 `json:"next_after"`
		NextBefore int64  `json:"next_before"`
	}
	var got []string
	after := int64(0)
	for range 5 {
		var p page
		if code := tr.getJSON(t, fmt.Sprintf("/api/v1/events?after=%d&limit=2", after), &p); code != http.StatusOK {
			t.Fatalf("GET after=%d: %d", after, code)
		}
		if p.NextAfter == nil || p.NextBefore != 0 {
			t.Fatalf("after=%d: next_after %v, next_before %d; want next_after only", after, p.NextAfter, p.NextBefore)
		}
		for _, e := range p.Events {
			got = append(got, e.EventID)
		}
		if len(p.Events) == 0 {
			if *p.NextAfter != after {
				t.Errorf("empty page: next_after = %d, want the given %d", *p.NextAfter, after)
			}
			break
		}
		if want := p.Events[len(p.Events)-1].Seq; *p.NextAfter != want {
			t.Errorf("next_after = %d, want the last event's seq %d", *p.NextAfter, want)
		}
		after = *p.NextAfter
	}
	if !slices.Equal(got, sent) {
		t.Errorf("feed = %v, want the deliveries in order %v", got, sent)
	}
	// Bodies only when asked for.
	for q, want := range map[string]bool{"": false, "&body=false": false, "&body=true": true, "&body=1": true} {
		var p page
		tr.getJSON(t, "/api/v1/events?after=0&limit=1"+q, &p)
		if len(p.Events) != 1 || (len(p.Events[0].Body) > 0) != want {
			t.Errorf("after=0%s: %d events, body %q; want a body %v", q, len(p.Events), firstBody(p.Events), want)
		}
	}
	for path, want := range map[string]int{
		"/api/v1/events?body=yes":           http.StatusBadRequest,
		"/api/v1/events?after=-1":           http.StatusBadRequest,
		"/api/v1/events?after=x":            http.StatusBadRequest,
		"/api/v1/events?after=":             http.StatusBadRequest,
		"/api/v1/events?after=1&before=9":   http.StatusBadRequest,
		"/api/v1/events?after=0&limit=1":    http.StatusOK,
		"/api/v1/studies/s1/events?after=0": http.StatusOK,
	} {
		if code := tr.getJSON(t, path, nil); code != want {
			t.Errorf("GET %s = %d, want %d", path, code, want)
		}
	}
}

func TestHealthAndMetrics(t *testing.T) {
	tr := newTestReceiver(t)
	if code := tr.getJSON(t, "/healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	if code := tr.getJSON(t, "/readyz", nil); code != http.StatusOK {
		t.Errorf("/readyz = %d", code)
	}
	tr.post(t, testSecret, delivery.NewID(), time.Now(), submissionBody(delivery.NewID(), "ACTIVE"))
	problems, err := testutil.GatherAndLint(tr.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
	resp, err := http.Get(tr.admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, name := range []string{"receiver_webhooks_total", "receiver_request_duration_seconds_bucket", "receiver_build_info",
		"receiver_store_commit_duration_seconds", "receiver_signature_age_seconds", `route="/hooks/prolific"`, "go_goroutines", "process_"} {
		if !bytes.Contains(b, []byte(name)) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if bytes.Contains(b, []byte(testSecret)) {
		t.Error("/metrics contains the webhook secret")
	}
}

func TestReadyzFailsWhenStoreDown(t *testing.T) {
	tr := newTestReceiver(t)
	tr.store.Close()
	if code := tr.getJSON(t, "/readyz", nil); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with a closed store = %d, want 503", code)
	}
	code, _ := tr.post(t, testSecret, delivery.NewID(), time.Now(), submissionBody(delivery.NewID(), "ACTIVE"))
	if code != http.StatusServiceUnavailable {
		t.Errorf("webhook with a closed store = %d, want 503", code)
	}
}

func TestSecretRotationAcceptsBoth(t *testing.T) {
	kr := verify.NewKeyring("old-secret", nil)
	tr := newTestReceiver(t, func(d *Deps) { d.Keyring = kr })
	kr.Set("new-secret", time.Now().Add(time.Hour), time.Now())
	for _, s := range []string{"old-secret", "new-secret"} {
		if code, body := tr.post(t, s, delivery.NewID(), time.Now(), submissionBody(delivery.NewID(), "ACTIVE")); code != http.StatusOK {
			t.Errorf("signed with %s: %d %s", s[:3], code, body)
		}
	}
	if code, _ := tr.post(t, "stranger", delivery.NewID(), time.Now(), submissionBody(delivery.NewID(), "ACTIVE")); code != http.StatusUnauthorized {
		t.Errorf("unknown secret: %d, want 401", code)
	}
}

func TestRejectionsNeverLogSecrets(t *testing.T) {
	tr := newTestReceiver(t)
	body := submissionBody(delivery.NewID(), "ACTIVE")
	req, _ := delivery.NewRequest(context.Background(), tr.public.URL+"/hooks/prolific", "wrong-secret-xyz", body,
		delivery.Headers{EventID: "evt-1", EventTime: time.Now(), SentAt: time.Now()})
	sig := req.Header.Get(prolific.HeaderSignature)
	code, resp := do(t, req)
	if code != http.StatusUnauthorized {
		t.Fatalf("status %d", code)
	}
	logs := tr.logs.String()
	for _, secret := range []string{testSecret, sig, "wrong-secret-xyz"} {
		if strings.Contains(logs, secret) || strings.Contains(resp, secret) {
			t.Errorf("secret material %q leaked: logs=%s resp=%s", secret, logs, resp)
		}
	}
	if !strings.Contains(logs, `"event_id":"evt-1"`) || !strings.Contains(logs, `"reason":"bad_signature"`) {
		t.Errorf("rejection log lacks event id or reason: %s", logs)
	}
}

// pageMounter stands in for the dashboard: one page at GET /.
type pageMounter struct{}

func (pageMounter) Mount(r chi.Router) {
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("dashboard")) })
}

func TestDashboardBehindAdminToken(t *testing.T) {
	tr := newTestReceiver(t, func(d *Deps) { d.AdminToken = "admin-token"; d.Dashboard = pageMounter{} })
	req, _ := http.NewRequest(http.MethodGet, tr.admin.URL+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), ","), "Basic") {
		t.Errorf("dashboard without credentials: %d %v, want 401 with a Basic challenge", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
	req.SetBasicAuth("me", "admin-token")
	if code, body := do(t, req); code != http.StatusOK || body != "dashboard" {
		t.Errorf("dashboard with the token: %d %q, want 200", code, body)
	}
	for _, open := range []string{"/healthz", "/readyz", "/metrics"} {
		if code := tr.getJSON(t, open, nil); code != http.StatusOK {
			t.Errorf("GET %s without a token = %d, want 200 (probes and scrapers stay open)", open, code)
		}
	}
}

func firstBody(events []EventJSON) string {
	if len(events) == 0 {
		return ""
	}
	return string(events[0].Body)
}

// feedlessReader is a store whose change feed is unavailable (a PostgreSQL
// events sequence with CACHE > 1): forward reads fail, others work.
type feedlessReader struct{ Reader }

func (f feedlessReader) Events(ctx context.Context, filter store.EventFilter) ([]store.Event, error) {
	if filter.Forward {
		return nil, fmt.Errorf("read feed bound: %w: run ALTER SEQUENCE events_seq_seq CACHE 1", store.ErrFeedUnavailable)
	}
	return f.Reader.Events(ctx, filter)
}

// TestFeedUnavailableSaysWhy: the change feed answers 503 with the store's
// reason (what to fix in the database), not a bare "store unavailable";
// listing backwards still works.
func TestFeedUnavailableSaysWhy(t *testing.T) {
	tr := newTestReceiver(t, func(d *Deps) { d.Reader = feedlessReader{d.Reader} })
	code, body := do(t, adminGet(tr.admin.URL, "/api/v1/events?after=0", ""))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "CACHE 1") || !strings.Contains(body, "change feed unavailable") {
		t.Errorf("GET events?after=0 = %d %s, want 503 naming the fix", code, body)
	}
	if code := tr.getJSON(t, "/api/v1/events", nil); code != http.StatusOK {
		t.Errorf("GET events (backwards) = %d, want 200", code)
	}
}
