package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/handlers"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
)

// crossSitePage is a page on another site that, once opened, makes the
// browser post to the admin listener every way a page can without CORS: a
// text/plain form (whose body can look like JSON), a urlencoded form, and a
// no-cors fetch.
const crossSitePage = `<!doctype html><html><body>
<form id="plain" method="POST" action="%[1]s/api/v1/outputs/lab/pause" enctype="text/plain" target="sink1">
<input name='{"x":"' value='"}'></form>
<form id="urlenc" method="POST" action="%[1]s/api/v1/reconcile" target="sink2"><input name="x" value="1"></form>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe>
<script>
document.getElementById("plain").submit();
document.getElementById("urlenc").submit();
fetch("%[1]s/api/v1/outputs/lab/pause", {method: "POST", mode: "no-cors", body: "{}", headers: {"Content-Type": "text/plain"}});
</script></body></html>`

// TestBrowserCrossSitePostsRefused opens, in headless Chromium, a page on
// another site (localhost, while the admin listener is 127.0.0.1) that
// posts to the admin listener (no admin token: the default on loopback).
// Every request reaches the receiver and is refused with 403, and the
// output stays unpaused. A page of the receiver's own origin that sends
// what the API asks (JSON and X-Requested-By) still pauses it.
func TestBrowserCrossSitePostsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"), store.Options{Outputs: []store.Output{{Name: "lab"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	var posts []string // "path status"
	inner := handlers.NewAdmin(handlers.Deps{Log: zerolog.Nop(), Reader: st, Pinger: st, Metrics: handlers.NewMetrics(reg, "test"),
		Gatherer: reg, Outbox: st, Outputs: []handlers.OutputInfo{{Name: "lab", Type: "http"}}})
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		if r.Method == http.MethodPost {
			mu.Lock()
			posts = append(posts, fmt.Sprintf("%s %d", r.URL.Path, rec.Code))
			mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(admin.Close)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, crossSitePage, admin.URL)
	}))
	t.Cleanup(evil.Close)
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)

	paused := func() bool {
		states, err := st.OutputStates(ctx)
		if err != nil || len(states) != 1 {
			t.Fatalf("OutputStates = %v, %v", states, err)
		}
		return states[0].Paused
	}
	bctx := newBrowser(t, ctx, &browserLog{})
	must(t, chromedp.Do(bctx, chromedp.Navigate(evilURL)))
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(posts)
		mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	got := append([]string(nil), posts...)
	mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("the receiver saw %d cross-site posts %v, want 3", len(got), got)
	}
	for _, p := range got {
		if !strings.HasSuffix(p, " 403") {
			t.Errorf("cross-site post %s, want 403", p)
		}
	}
	if paused() {
		t.Fatal("a cross-site page paused the output")
	}

	// The receiver's own origin, sending what the API asks, still works.
	must(t, chromedp.Do(bctx, chromedp.Navigate(admin.URL+"/healthz")))
	status, err := chromedp.Run(bctx, chromedp.Evaluate[int](`fetch("/api/v1/outputs/lab/pause", {method: "POST",
		headers: {"Content-Type": "application/json", "X-Requested-By": "dashboard"}}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	must(t, err)
	if status != http.StatusOK || !paused() {
		t.Errorf("same-origin pause = %d (paused %v), want 200 and paused", status, paused())
	}
}
