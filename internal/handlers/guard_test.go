package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
)

// TestGuardAdminWritesRefusesCrossSite sends, through a real listener over a
// real store, the requests a page on another origin can make a browser send
// (a form post as text/plain or urlencoded, a fetch with a foreign Origin or
// Sec-Fetch-Site: cross-site, Basic credentials the browser replays) to
// every admin write route, with and without an admin token, and checks each
// is refused with the status that names why and that the output stays
// unpaused. Requests a client of our own sends still pass.
func TestGuardAdminWritesRefusesCrossSite(t *testing.T) {
	for _, token := range []string{"", "tok"} {
		t.Run("token="+token, func(t *testing.T) {
			st, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"), store.Options{Outputs: []store.Output{{Name: "lab"}}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			reg := prometheus.NewRegistry()
			srv := httptest.NewServer(NewAdmin(Deps{Log: zerolog.Nop(), Reader: st, Pinger: st, Metrics: NewMetrics(reg, "test"),
				Gatherer: reg, AdminToken: token, Outbox: st, Reconciler: &fakeReconciler{},
				Outputs: []OutputInfo{{Name: "lab", Type: "http"}}}))
			defer srv.Close()
			paused := func() bool {
				states, err := st.OutputStates(context.Background())
				if err != nil || len(states) != 1 {
					t.Fatalf("OutputStates = %v, %v", states, err)
				}
				return states[0].Paused
			}
			basic := func(r *http.Request) {
				if token != "" {
					r.SetBasicAuth("admin", token)
				}
			}
			hostile := []struct {
				name   string
				header map[string]string
				auth   func(*http.Request)
				want   int
			}{
				{"text/plain form", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, basic, 403},
				{"text/plain form, no fetch metadata", map[string]string{"Content-Type": "text/plain"}, basic, 415},
				{"urlencoded form", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, basic, 415},
				{"multipart form", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, basic, 415},
				{"no content type", map[string]string{HeaderRequestedBy: "x"}, basic, 415},
				{"foreign Origin", map[string]string{"Content-Type": "application/json", HeaderRequestedBy: "x", "Origin": "http://evil.example"}, basic, 403},
				{"Origin null", map[string]string{"Content-Type": "application/json", HeaderRequestedBy: "x", "Origin": "null"}, basic, 403},
				{"Sec-Fetch-Site cross-site", map[string]string{"Content-Type": "application/json", HeaderRequestedBy: "x", "Sec-Fetch-Site": "cross-site"}, basic, 403},
				{"Sec-Fetch-Site same-site", map[string]string{"Content-Type": "application/json", HeaderRequestedBy: "x", "Sec-Fetch-Site": "same-site"}, basic, 403},
				{"JSON without custom header, Basic auth only", map[string]string{"Content-Type": "application/json"}, basic, 403},
			}
			for _, path := range []string{"/api/v1/outputs/lab/pause", "/api/v1/outputs/lab/retry", "/api/v1/reconcile"} {
				for _, tc := range hostile {
					req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader("x=1"))
					for k, v := range tc.header {
						req.Header.Set(k, v)
					}
					tc.auth(req)
					code, body := do(t, req)
					if code != tc.want {
						t.Errorf("POST %s (%s) = %d %s, want %d", path, tc.name, code, body, tc.want)
					}
					if paused() {
						t.Fatalf("POST %s (%s) paused the output", path, tc.name)
					}
				}
			}
			// Other unsafe methods are guarded too, wherever they land.
			for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
				req, _ := http.NewRequest(m, srv.URL+"/api/v1/outputs/lab/pause", nil)
				req.Header.Set("Content-Type", "text/plain")
				if code, _ := do(t, req); code != http.StatusUnsupportedMediaType {
					t.Errorf("%s text/plain = %d, want 415", m, code)
				}
			}

			// Our own clients: the CLI (JSON, X-Requested-By, the token when
			// set as a bearer), and the dashboard's own origin.
			own := func(origin string, bearer bool) int {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/outputs/lab/pause", nil)
				req.Header.Set("Content-Type", "application/json; charset=utf-8")
				if bearer {
					req.Header.Set("Authorization", "Bearer "+token)
				} else {
					req.Header.Set(HeaderRequestedBy, "receiver-cli")
					basic(req)
				}
				if origin != "" {
					req.Header.Set("Origin", origin)
					req.Header.Set("Sec-Fetch-Site", "same-origin")
				}
				code, _ := do(t, req)
				return code
			}
			if code := own("", false); code != http.StatusOK || !paused() {
				t.Errorf("CLI-style pause = %d (paused %v), want 200 and paused", code, paused())
			}
			if err := st.SetOutputPaused(context.Background(), "lab", false); err != nil {
				t.Fatal(err)
			}
			if code := own(srv.URL, false); code != http.StatusOK || !paused() {
				t.Errorf("same-origin pause = %d (paused %v), want 200 and paused", code, paused())
			}
			if token != "" {
				if err := st.SetOutputPaused(context.Background(), "lab", false); err != nil {
					t.Fatal(err)
				}
				if code := own("", true); code != http.StatusOK || !paused() {
					t.Errorf("bearer pause = %d (paused %v), want 200 and paused", code, paused())
				}
			}
			// Reads are untouched: a plain GET needs none of this.
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/outputs", nil)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			basic(req)
			if code, _ := do(t, req); code != http.StatusOK {
				t.Errorf("GET /api/v1/outputs = %d, want 200", code)
			}
		})
	}
}
