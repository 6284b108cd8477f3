package dashboard_test

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/dashboard"
	"github.com/prolific-receiver/receiver/internal/enrich"
	"github.com/prolific-receiver/receiver/internal/handlers"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/verify"
)

const (
	rigToken     = "dashboard-test-token-not-real"
	rigWorkspace = "60a1b2c3d4e5f6a7b8c9d0e1"
)

// rig is the whole receive path on loopback: a fake Prolific delivering
// signed webhooks to a receiver (public and admin listeners over a real
// SQLite store, the dashboard mounted) whose enrichment worker asks the fake
// for each study's places and counts.
type rig struct {
	fake  *prolifictest.Fake
	store *sqlite.DB
	admin *httptest.Server
}

func newRig(t *testing.T, ctx context.Context) *rig {
	t.Helper()
	fake := prolifictest.New(prolifictest.Options{
		Tokens: []string{rigToken}, Workspaces: []string{rigWorkspace}, AllowHTTPTargets: true,
		TimeScale: 60000, DeliveryTimeout: 5 * time.Second,
	})
	fake.Start()
	t.Cleanup(fake.Close)
	client := prolific.New(fake.URL(), rigToken, prolific.WithTimeout(5*time.Second))
	secret, err := client.CreateSecret(ctx, rigWorkspace)
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}

	st, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"), store.Options{Enrich: true, Debounce: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	reg := prometheus.NewRegistry()
	deps := handlers.Deps{
		Log: zerolog.Nop(), Saver: st, Reader: st, Pinger: st,
		Keyring: verify.NewKeyring(secret.Value, nil), Tolerance: verify.DefaultTolerance,
		MaxBodyBytes: 1 << 20, Metrics: handlers.NewMetrics(reg, "test"), Gatherer: reg,
		Dashboard: dashboard.New(st, dashboard.Options{PollInterval: 250 * time.Millisecond}),
	}
	public := httptest.NewServer(handlers.NewPublic(deps))
	t.Cleanup(public.Close)
	admin := httptest.NewServer(handlers.NewAdmin(deps))
	t.Cleanup(admin.Close)

	for _, et := range []string{prolific.EventStudyStatusChange, prolific.EventStudyProgressChange,
		prolific.EventSubmissionStatusChange, prolific.EventStudyHighReturnRate} {
		sub, hookSecret, err := client.CreateSubscription(ctx, rigWorkspace, et, public.URL+"/hooks/prolific")
		if err != nil {
			t.Fatalf("CreateSubscription %s: %v", et, err)
		}
		if _, err := client.ConfirmSubscription(ctx, sub.ID, hookSecret); err != nil {
			t.Fatalf("ConfirmSubscription %s: %v", et, err)
		}
	}

	w := enrich.New(st, client, enrich.Options{
		PollInterval: 20 * time.Millisecond, RatePerSecond: 1000, Burst: 100,
		BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, RateLimitPause: 50 * time.Millisecond,
		Log: zerolog.Nop(),
	})
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil && wctx.Err() == nil {
			t.Errorf("enrichment worker: %v", err)
		}
	})
	return &rig{fake: fake, store: st, admin: admin}
}

// behindPrefix serves target under prefix through a reverse proxy that
// strips the prefix before forwarding (nginx's `location /receiver/ {
// proxy_pass http://receiver:9090/; }`), and returns the proxy's URL with
// the prefix.
func behindPrefix(t *testing.T, target, prefix string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix(prefix, httputil.NewSingleHostReverseProxy(u)))
	t.Cleanup(srv.Close)
	return srv.URL + prefix
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// addSubmissions reserves n places in study and moves the first of them on
// through statuses, one list per submission, in order.
func (rg *rig) addSubmissions(t *testing.T, studyID string, n int, paths ...[]string) {
	t.Helper()
	for i := range n {
		id, err := rg.fake.AddSubmission(studyID)
		must(t, err)
		if i < len(paths) {
			for _, status := range paths[i] {
				must(t, rg.fake.SetSubmissionStatus(id, status))
			}
		}
	}
}

// nonZero drops TOTAL and zero counts.
func nonZero(counts map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range counts {
		if v != 0 && k != "TOTAL" {
			out[k] = v
		}
	}
	return out
}

// waitStored waits until every delivery is done and the store shows what
// the fake says about each study (the enrichment worker has caught up), and
// returns the fake's states.
func (rg *rig) waitStored(t *testing.T, ctx context.Context, ids ...string) map[string]prolifictest.StudyState {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := rg.fake.WaitIdle(ctx); err != nil {
		t.Fatalf("deliveries: %v", err)
	}
	states := map[string]prolifictest.StudyState{}
	for _, id := range ids {
		want, ok := rg.fake.StudyState(id)
		if !ok {
			t.Fatalf("the fake has no study %s", id)
		}
		states[id] = want
		for {
			got, err := rg.store.Study(ctx, id)
			if err == nil && got.Name == want.Name && got.Status == want.Status && got.PlacesTaken == want.PlacesTaken &&
				got.PlacesTotal == want.TotalAvailablePlaces && maps.Equal(nonZero(got.SubmissionCounts), nonZero(want.Counts)) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("store never caught up with study %s: store %+v (err %v), fake %+v", id, got, err, want)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return states
}

// TestReceiverFeedsDashboard runs without a browser: webhooks from the fake
// and the enrichment worker's API calls end up as the right numbers on the
// page served by the real admin router, next to its other routes.
func TestReceiverFeedsDashboard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rg := newRig(t, ctx)
	id, err := rg.fake.CreateStudy(rigWorkspace, "", "Pilot & <friends>", 5)
	must(t, err)
	must(t, rg.fake.SetStudyStatus(id, prolifictest.StudyActive))
	rg.addSubmissions(t, id, 3, []string{prolifictest.SubmissionActive, prolifictest.SubmissionAwaitingReview})
	want := rg.waitStored(t, ctx, id)[id]

	code, _, body := get(t, rg.admin.URL+"/")
	row := studyRow(body, id)
	for _, s := range []string{
		`data-places-taken="3" data-places-total="5"`, "3 / 5", "Pilot &amp; &lt;friends&gt;",
		`data-status="RESERVED" data-count="2"`, `data-status="AWAITING REVIEW" data-count="1"`,
	} {
		if code != http.StatusOK || !strings.Contains(row, s) {
			t.Errorf("GET / = %d; the row of %s lacks %q (fake: %+v); row:\n%s", code, id, s, want, row)
		}
	}
	for path, wantCode := range map[string]int{"/healthz": 200, "/events": 200, "/studies/" + id: 200, "/studies/nope": 404} {
		if code, _, _ := get(t, rg.admin.URL+path); code != wantCode {
			t.Errorf("GET %s = %d, want %d", path, code, wantCode)
		}
	}
}
