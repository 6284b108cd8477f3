package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/prolific-receiver/receiver/internal/dashboard"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// now is the dashboard's clock in the tests: an hour after storetest.T0.
var now = storetest.T0.Add(time.Hour)

const (
	studyStatus     = "study.status.change"
	studyProgress   = "study.progress.change"
	studyHighReturn = "study.has_high_return_rate"
	submissionEvent = "submission.status.change"
)

// openStore opens a fresh SQLite store in t.TempDir().
func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"), store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// serve mounts a dashboard over r on a chi router behind a real listener.
func serve(t *testing.T, r dashboard.Reader, opts dashboard.Options) *httptest.Server {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return now }
	}
	router := chi.NewRouter()
	dashboard.New(r, opts).Mount(router)
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)
	return srv
}

// save stores an event or fails the test.
func save(t *testing.T, st store.Store, e *store.Event) *store.Event {
	t.Helper()
	if _, err := st.Save(context.Background(), e); err != nil {
		t.Fatalf("Save %s %s: %v", e.Type, e.ResourceID, err)
	}
	return e
}

// snapshot records what the API said about a study, as the enrichment worker does.
func snapshot(t *testing.T, st store.Store, s store.StudySnapshot) {
	t.Helper()
	if s.FetchedAt.IsZero() {
		s.FetchedAt = now.Add(-time.Minute)
	}
	if err := st.ApplyStudySnapshot(context.Background(), s); err != nil {
		t.Fatalf("ApplyStudySnapshot %s: %v", s.ID, err)
	}
}

// get fetches url and returns the status, headers and body.
func get(t *testing.T, url string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// studyRow returns the <tr> of study id on the studies page, or "".
func studyRow(body, id string) string {
	return regexp.MustCompile(`(?s)<tr data-study-id="` + regexp.QuoteMeta(id) + `".*?</tr>`).FindString(body)
}

// rowSeqs lists the data-seq values of the event rows in body, in order.
func rowSeqs(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<tr data-seq="(\d+)"`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}
