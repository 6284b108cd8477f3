package dashboard_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/prolific-receiver/receiver/internal/dashboard"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

const hostileName = `<script>alert("pwned")</script> & "quotes"`

// populate stores two studies: s-active (37 of 100 places, older activity)
// and s-review (a hostile name, AWAITING REVIEW, high return rate, newest).
func populate(t *testing.T, st store.Store) {
	t0 := storetest.T0
	save(t, st, storetest.NewEvent(studyStatus, "s-active", "ACTIVE", t0.Add(10*time.Minute)))
	save(t, st, storetest.NewEvent(studyProgress, "s-active", "", t0.Add(11*time.Minute)))
	snapshot(t, st, store.StudySnapshot{ID: "s-active", Name: "Memory & recall", Status: "ACTIVE",
		PlacesTaken: 37, PlacesTotal: 100, NumberOfSubmissions: 37,
		SubmissionCounts: map[string]int{"APPROVED": 30, "AWAITING REVIEW": 5, "RETURNED": 2, "ACTIVE": 0}})
	save(t, st, storetest.NewEvent(studyStatus, "s-review", "AWAITING REVIEW", t0.Add(20*time.Minute)))
	save(t, st, storetest.NewEvent(studyHighReturn, "s-review", "", t0.Add(21*time.Minute)))
	snapshot(t, st, store.StudySnapshot{ID: "s-review", Name: hostileName, Status: "AWAITING REVIEW",
		PlacesTaken: 10, PlacesTotal: 10, NumberOfSubmissions: 14,
		SubmissionCounts: map[string]int{"AWAITING REVIEW": 10, "RETURNED": 4}})
}

func TestStudiesPage(t *testing.T) {
	st := openStore(t)
	populate(t, st)
	srv := serve(t, st, dashboard.Options{})

	code, hdr, body := get(t, srv.URL+"/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d, want 200; body:\n%s", code, body)
	}
	if got := hdr.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/html; charset=utf-8", got)
	}
	if got := hdr.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'none'") || !strings.Contains(got, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy = %q, want default-src 'none' and connect-src 'self'", got)
	}

	active := studyRow(body, "s-active")
	for _, want := range []string{
		`data-status="ACTIVE"`, `data-places-taken="37" data-places-total="100"`,
		`<progress max="100" value="37"`, `37 / 100`, `37%`, `Memory &amp; recall`,
		`<span class="badge status-active">ACTIVE</span>`,
		`data-status="APPROVED" data-count="30"`, `data-status="AWAITING REVIEW" data-count="5"`,
		`data-status="RETURNED" data-count="2"`, `href="studies/s-active"`, `49 min ago`,
	} {
		if !strings.Contains(active, want) {
			t.Errorf("s-active row lacks %q; row:\n%s", want, active)
		}
	}
	if strings.Contains(active, `data-status="ACTIVE" data-count`) {
		t.Errorf("s-active row shows a zero count chip; row:\n%s", active)
	}
	if strings.Contains(active, "High return rate") {
		t.Errorf("s-active row flags a high return rate it never had")
	}

	review := studyRow(body, "s-review")
	for _, want := range []string{
		`<span class="badge status-awaiting-review">AWAITING REVIEW</span>`, `High return rate`,
		`data-places-taken="10" data-places-total="10"`, `10 / 10`, `100%`, `39 min ago`,
	} {
		if !strings.Contains(review, want) {
			t.Errorf("s-review row lacks %q; row:\n%s", want, review)
		}
	}
	if i, j := strings.Index(body, `data-study-id="s-review"`), strings.Index(body, `data-study-id="s-active"`); i < 0 || j < 0 || i > j {
		t.Errorf("rows at %d (s-review) and %d (s-active), want the most recently active first", i, j)
	}
	for _, want := range []string{
		`data-total="studies">2<`, `data-total="active">1<`, `data-total="places_taken">47<`,
		`data-total="places_total">110<`, `data-total="submissions">51<`, `data-total="awaiting_review">15<`,
		`data-total="high_return_rate">1<`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("totals lack %q", want)
		}
	}
	if !strings.Contains(body, `id="empty" hidden`) {
		t.Errorf("the empty-store message is shown although there are studies")
	}
}

func TestHostileNameIsEscaped(t *testing.T) {
	st := openStore(t)
	populate(t, st)
	save(t, st, storetest.NewEvent(studyStatus, `s-<b>bold</b>`, `<img src=x onerror=alert(1)>`, storetest.T0))
	srv := serve(t, st, dashboard.Options{})
	for _, path := range []string{"/", "/studies/s-review", "/events", "/studies/s-%3Cb%3Ebold%3C%2Fb%3E"} {
		code, _, body := get(t, srv.URL+path)
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d, want 200", path, code)
		}
		for _, bad := range []string{`<script>alert`, `<b>bold`, `<img src=x`} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s: body contains unescaped %q", path, bad)
			}
		}
	}
	_, _, body := get(t, srv.URL+"/")
	if want := `&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; &#34;quotes&#34;`; !strings.Contains(body, want) {
		t.Errorf("studies page lacks the escaped name %q", want)
	}
}

func TestEmptyStore(t *testing.T) {
	srv := serve(t, openStore(t), dashboard.Options{})
	tests := []struct {
		path, want string
	}{
		{"/", "No studies yet — point Prolific at <code>/hooks/prolific</code>"},
		{"/", `id="table-wrap" hidden`},
		{"/", `data-total="studies">0<`},
		{"/events", "No events yet — point Prolific at <code>/hooks/prolific</code>"},
	}
	for _, tc := range tests {
		code, _, body := get(t, srv.URL+tc.path)
		if code != http.StatusOK || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s = %d, contains %q: %v; want 200 and true", tc.path, code, tc.want, strings.Contains(body, tc.want))
		}
	}
}

// liveSnapshot mirrors the JSON the page's script reads.
type liveSnapshot struct {
	GeneratedAt time.Time      `json:"generated_at"`
	PollMS      int            `json:"poll_ms"`
	Totals      map[string]int `json:"totals"`
	Studies     []struct {
		ID             string         `json:"id"`
		Name           string         `json:"name"`
		Status         string         `json:"status"`
		StatusClass    string         `json:"status_class"`
		PlacesTaken    int            `json:"places_taken"`
		PlacesTotal    int            `json:"places_total"`
		Percent        int            `json:"percent"`
		HighReturnRate bool           `json:"high_return_rate"`
		Counts         []liveCount    `json:"counts"`
		SubCounts      map[string]int `json:"submission_counts"`
		LastEventAgo   string         `json:"last_event_ago"`
		URL            string         `json:"url"`
	} `json:"studies"`
}

type liveCount struct {
	Status string `json:"status"`
	Class  string `json:"class"`
	N      int    `json:"n"`
}

func TestStudiesJSON(t *testing.T) {
	st := openStore(t)
	populate(t, st)
	srv := serve(t, st, dashboard.Options{PollInterval: 1500 * time.Millisecond})
	code, hdr, body := get(t, srv.URL+"/dashboard/studies.json")
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/json" || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET studies.json = %d, %q, %q; want 200, application/json, no-store", code, hdr.Get("Content-Type"), hdr.Get("Cache-Control"))
	}
	var got liveSnapshot
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if !got.GeneratedAt.Equal(now) || got.PollMS != 1500 {
		t.Errorf("generated_at, poll_ms = %v, %d; want %v, 1500", got.GeneratedAt, got.PollMS, now)
	}
	wantTotals := map[string]int{"studies": 2, "active": 1, "places_taken": 47, "places_total": 110,
		"submissions": 51, "awaiting_review": 15, "high_return_rate": 1}
	if diff := cmp.Diff(wantTotals, got.Totals); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	if len(got.Studies) != 2 || got.Studies[0].ID != "s-review" || got.Studies[1].ID != "s-active" {
		t.Fatalf("studies = %+v, want s-review then s-active", got.Studies)
	}
	r, a := got.Studies[0], got.Studies[1]
	if r.Name != hostileName || r.Status != "AWAITING REVIEW" || r.StatusClass != "awaiting-review" || !r.HighReturnRate || r.Percent != 100 {
		t.Errorf("s-review = %+v; want its name verbatim, AWAITING REVIEW, awaiting-review, flagged, 100%%", r)
	}
	if a.PlacesTaken != 37 || a.PlacesTotal != 100 || a.Percent != 37 || a.URL != "studies/s-active" || a.LastEventAgo != "49 min ago" {
		t.Errorf("s-active = %+v; want 37/100, 37%%, studies/s-active (relative to the root), 49 min ago", a)
	}
	wantCounts := []liveCount{{"AWAITING REVIEW", "awaiting-review", 5}, {"APPROVED", "approved", 30}, {"RETURNED", "returned", 2}}
	if diff := cmp.Diff(wantCounts, a.Counts); diff != "" {
		t.Errorf("s-active counts in display order (-want +got):\n%s", diff)
	}
}

func TestStudiesLimit(t *testing.T) {
	st := openStore(t)
	populate(t, st)
	srv := serve(t, st, dashboard.Options{MaxStudies: 1})
	_, _, body := get(t, srv.URL+"/")
	if studyRow(body, "s-review") == "" || studyRow(body, "s-active") != "" {
		t.Errorf("with MaxStudies 1 the page should list only s-review")
	}
	if !strings.Contains(body, "Showing the 1 most recently active studies.") || strings.Contains(body, `id="limit-note" hidden`) {
		t.Errorf("the page does not say it shows only the most recent study")
	}
}
