package dashboard_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/dashboard"
	"github.com/prolific-receiver/receiver/internal/store"
)

func TestStudyPage(t *testing.T) {
	st := openStore(t)
	seqs := populateEvents(t, st)
	snapshot(t, st, store.StudySnapshot{ID: "study-a", Name: "Attention check", Status: "ACTIVE",
		PlacesTaken: 1, PlacesTotal: 4, NumberOfSubmissions: 2,
		SubmissionCounts: map[string]int{"AWAITING REVIEW": 1, "RETURNED": 1}})
	srv := serve(t, st, dashboard.Options{StudyEvents: 4})

	code, _, body := get(t, srv.URL+"/studies/study-a")
	if code != http.StatusOK {
		t.Fatalf("GET /studies/study-a = %d, want 200", code)
	}
	for _, want := range []string{
		"<h1>Attention check</h1>", `<progress max="4" value="1"`, "1 / 4", "25%",
		`<span class="badge status-active">ACTIVE</span>`, `<span class="flag">High return rate</span>`,
		`data-status="AWAITING REVIEW" data-count="1"`, `<code>sub-1</code>`, `<code>p-sub-2</code>`,
		`<a href="events?study_id=study-a">All events for this study`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("study page lacks %q", want)
		}
	}
	groups := regexp.MustCompile(`<summary><span class="badge status-[a-z-]+">([A-Z -]+)</span> <span class="count">(\d+)</span>`).FindAllStringSubmatch(body, -1)
	var got []string
	for _, g := range groups {
		got = append(got, g[1]+"="+g[2])
	}
	if diff := cmp.Diff([]string{"AWAITING REVIEW=1", "RETURNED=1"}, got); diff != "" {
		t.Errorf("submission groups (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(seqStrings(seqs, 6, 3, 2, 1), rowSeqs(body)); diff != "" {
		t.Errorf("recent events, capped at 4 (-want +got):\n%s", diff)
	}
}

func TestStudyWithoutSubmissions(t *testing.T) {
	st := openStore(t)
	populateEvents(t, st)
	srv := serve(t, st, dashboard.Options{})
	_, _, body := get(t, srv.URL+"/studies/study-b")
	for _, want := range []string{"<h1>Study <code>study-b</code></h1>", "No submissions are linked to this study yet",
		"places not fetched yet", `<span class="badge status-paused">PAUSED</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("study-b page lacks %q", want)
		}
	}
}

func TestNotFound(t *testing.T) {
	st := openStore(t)
	populateEvents(t, st)
	srv := serve(t, st, dashboard.Options{})
	for _, path := range []string{"/studies/no-such-study", "/static/nope.css"} {
		code, hdr, body := get(t, srv.URL+path)
		if code != http.StatusNotFound || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(body, `<p class="code">404</p>`) {
			t.Errorf("GET %s = %d %q, want a 404 page", path, code, hdr.Get("Content-Type"))
		}
	}
}

// failingReader is a store whose every read fails.
type failingReader struct{ err error }

func (f failingReader) Studies(context.Context, store.StudyFilter) ([]store.Study, error) {
	return nil, f.err
}
func (f failingReader) Study(context.Context, string) (*store.Study, error) { return nil, f.err }
func (f failingReader) Submissions(context.Context, string, int) ([]store.Submission, error) {
	return nil, f.err
}
func (f failingReader) Events(context.Context, store.EventFilter) ([]store.Event, error) {
	return nil, f.err
}

func TestStoreUnavailable(t *testing.T) {
	var logs bytes.Buffer
	srv := serve(t, failingReader{errors.New("disk on fire")}, dashboard.Options{Log: zerolog.New(&logs)})
	for _, path := range []string{"/", "/events", "/studies/x", "/dashboard/studies.json"} {
		code, _, body := get(t, srv.URL+path)
		if code != http.StatusServiceUnavailable {
			t.Errorf("GET %s = %d, want 503", path, code)
		}
		if strings.Contains(body, "disk on fire") {
			t.Errorf("GET %s shows the internal error to the client", path)
		}
	}
	if got := strings.Count(logs.String(), "disk on fire"); got != 4 {
		t.Errorf("logged the store error %d times, want once per request (4); logs:\n%s", got, logs.String())
	}
}

func TestStaticAssets(t *testing.T) {
	srv := serve(t, openStore(t), dashboard.Options{})
	_, _, page := get(t, srv.URL+"/")
	refs := regexp.MustCompile(`(?:href|src)="(static/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) != 3 {
		t.Fatalf("page references %d assets, want 3 (icon, css, js): %v", len(refs), refs)
	}
	wantType := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
	for _, ref := range refs {
		url := strings.ReplaceAll(ref[1], "&amp;", "&")
		code, hdr, body := get(t, srv.URL+"/"+url)
		ext := regexp.MustCompile(`\.[a-z]+\?`).FindString(url)
		ext = strings.TrimSuffix(ext, "?")
		if code != http.StatusOK || hdr.Get("Content-Type") != wantType[ext] || body == "" {
			t.Errorf("GET %s = %d %q (%d bytes), want 200 %q", url, code, hdr.Get("Content-Type"), len(body), wantType[ext])
		}
		if got := hdr.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s Cache-Control = %q, want a year, immutable, for the versioned URL", url, got)
		}
		// An SVG's XML namespace is a name, not a request.
		body = strings.ReplaceAll(body, `xmlns="http://www.w3.org/2000/svg"`, "")
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "@import") {
			t.Errorf("%s refers to another origin", url)
		}
		code, _, _ = get(t, srv.URL+"/"+url, "If-None-Match", hdr.Get("ETag"))
		if code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag = %d, want 304", url, code)
		}
	}
	code, hdr, _ := get(t, srv.URL+"/static/app.css")
	if code != http.StatusOK || hdr.Get("Cache-Control") != "public, max-age=86400" {
		t.Errorf("GET unversioned app.css = %d, Cache-Control %q; want 200, a day", code, hdr.Get("Cache-Control"))
	}
	for _, origin := range []string{"http://", "https://", "//fonts", "//cdn"} {
		if strings.Contains(page, origin) {
			t.Errorf("the studies page refers to another origin (%q)", origin)
		}
	}
}
