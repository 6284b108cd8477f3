package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/prolific-receiver/receiver/internal/handlers"
)

const cannedStudies = `{"studies": [
 {"id": "s1", "name": "Memory task", "status": "ACTIVE", "status_at": "2026-03-01T11:00:00Z",
  "places_taken": 12, "places_total": 40, "number_of_submissions": 14,
  "submission_counts": {"AWAITING REVIEW": 9, "ACTIVE": 3, "RETURNED": 2, "APPROVED": 0},
  "high_return_rate_events": 0, "last_event_at": "2026-03-01T11:58:30Z", "refreshed_at": null,
  "updated_at": "2026-03-01T11:58:31Z"},
 {"id": "s2", "name": "", "status": "", "status_at": null, "places_taken": 0, "places_total": 0,
  "number_of_submissions": 0, "submission_counts": {}, "high_return_rate_events": 0,
  "last_event_at": null, "refreshed_at": null, "updated_at": "2026-03-01T10:00:00Z"}
]}`

// studiesServer serves cannedStudies at /api/v1/studies to requests bearing token.
func studiesServer(t *testing.T, token string, hits *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits.Add(1)
		}
		if r.URL.Path != "/api/v1/studies" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"unauthorized"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(cannedStudies))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestStudiesTable(t *testing.T) {
	srv := studiesServer(t, "tok", nil)
	var out, errOut bytes.Buffer
	if err := runStudies(context.Background(), []string{"-admin-url", srv.URL + "/", "-token", "tok"}, &out, &errOut); err != nil {
		t.Fatalf("runStudies: %v (stderr %q)", err, errOut.String())
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want header + 2 studies:\n%s", len(lines), out.String())
	}
	for _, want := range []string{"ID", "NAME", "STATUS", "PLACES", "SUBMISSIONS", "LAST EVENT"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header %q lacks %q", lines[0], want)
		}
	}
	for _, want := range []string{"s1", "Memory task", "ACTIVE", "[###-------] 12/40", "ACTIVE 3, AWAITING REVIEW 9, RETURNED 2", " ago"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
	if strings.Contains(lines[1], "APPROVED 0") {
		t.Errorf("row %q shows a zero count", lines[1])
	}
	if got := strings.Fields(lines[2]); len(got) != 6 || got[0] != "s2" || got[5] != "never" {
		t.Errorf("row 2 fields = %q, want s2 with dashes and \"never\"", got)
	}
	// Columns line up: every row's PLACES cell starts where the header's does.
	col := strings.Index(lines[0], "PLACES")
	if got := strings.Index(lines[1], "[###"); got != col {
		t.Errorf("PLACES column at %d in row, %d in header", got, col)
	}
}

func TestStudiesTokenFromEnv(t *testing.T) {
	srv := studiesServer(t, "from-env", nil)
	t.Setenv("RECEIVER_ADMIN_TOKEN", "from-env")
	var out bytes.Buffer
	if err := runStudies(context.Background(), []string{"-admin-url", srv.URL}, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("runStudies: %v", err)
	}
	t.Setenv("RECEIVER_ADMIN_TOKEN", "")
	err := runStudies(context.Background(), []string{"-admin-url", srv.URL}, &out, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("without token: err = %v, want a 401 error", err)
	}
}

func TestStudiesJSON(t *testing.T) {
	srv := studiesServer(t, "tok", nil)
	var out bytes.Buffer
	if err := runStudies(context.Background(), []string{"-admin-url", srv.URL, "-token", "tok", "-json"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("runStudies: %v", err)
	}
	var got, want struct {
		Studies []handlers.StudyJSON `json:"studies"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if err := json.Unmarshal([]byte(cannedStudies), &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON output (-want +got):\n%s", diff)
	}
}

func TestStudiesWatchRedrawsUntilCancelled(t *testing.T) {
	var hits atomic.Int32
	srv := studiesServer(t, "tok", &hits)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		// A fourth request starts only after the third answer was drawn;
		// cancelling at the third could cut that answer before its redraw.
		for hits.Load() < 4 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	var out bytes.Buffer
	if err := runStudies(ctx, []string{"-admin-url", srv.URL, "-token", "tok", "-watch", "10ms"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("runStudies -watch: %v", err)
	}
	if got := strings.Count(out.String(), clearScreen); got < 3 {
		t.Errorf("redraws = %d, want at least 3", got)
	}
}

func TestPlacesBar(t *testing.T) {
	tests := []struct {
		taken, total int
		want         string
	}{
		{0, 10, "[----------] 0/10"},
		{5, 10, "[#####-----] 5/10"},
		{10, 10, "[##########] 10/10"},
		{12, 10, "[##########] 12/10"},
		{3, 0, "3/?"},
		{0, 0, "-"},
	}
	for _, tc := range tests {
		if got := places(tc.taken, tc.total); got != tc.want {
			t.Errorf("places(%d, %d) = %q, want %q", tc.taken, tc.total, got, tc.want)
		}
	}
}

func TestAge(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	tests := []struct {
		t    *time.Time
		want string
	}{
		{nil, "never"},
		{at(-time.Second), "just now"},
		{at(42 * time.Second), "42s ago"},
		{at(5 * time.Minute), "5m ago"},
		{at(3 * time.Hour), "3h ago"},
		{at(72 * time.Hour), "3d ago"},
	}
	for _, tc := range tests {
		if got := age(tc.t, now); got != tc.want {
			t.Errorf("age(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}
