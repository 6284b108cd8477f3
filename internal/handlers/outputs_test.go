package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// TestOutputsAPI: the outputs routes list, page dead letters, retry,
// pause and resume, answer 404 for an unknown output and 400 for a bad
// parameter, and sit behind the admin token.
func TestOutputsAPI(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"), store.Options{Outputs: []store.Output{{Name: "lab"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	e := storetest.NewEvent("study.status.change", "study-1", "ACTIVE", storetest.T0)
	if _, err := st.Save(ctx, e); err != nil {
		t.Fatal(err)
	}
	items, err := st.ClaimOutbox(ctx, "lab", "w", 10, time.Minute, true)
	if err != nil || len(items) != 1 {
		t.Fatalf("ClaimOutbox = %v, %v", items, err)
	}
	if err := st.DeadLetterOutbox(ctx, "w", items[0].ID, "500 for 72h"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(NewAdmin(Deps{Log: zerolog.Nop(), Reader: st, Pinger: st, Metrics: NewMetrics(reg, "test"),
		Gatherer: reg, AdminToken: "tok", Outbox: st,
		Outputs: []OutputInfo{{Name: "lab", Type: "http", Destination: "https://lab.example/hook", Ordered: true, MaxAge: 72 * time.Hour}}}))
	defer srv.Close()
	call := func(method, path string, v any) int {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if v != nil && resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
				t.Fatalf("%s %s: decode: %v", method, path, err)
			}
		}
		return resp.StatusCode
	}

	var list struct{ Outputs []OutputJSON }
	if code := call(http.MethodGet, "/api/v1/outputs", &list); code != 200 || len(list.Outputs) != 1 {
		t.Fatalf("GET /outputs = %d %+v", code, list)
	}
	if o := list.Outputs[0]; !o.Configured || o.Type != "http" || o.DeadLetters != 1 || o.Pending != 0 || o.MaxAgeSeconds != 72*3600 {
		t.Errorf("output = %+v, want configured http with 1 dead letter", o)
	}
	var dead struct {
		DeadLetters []DeadLetterJSON `json:"dead_letters"`
		NextAfter   int64            `json:"next_after"`
	}
	if code := call(http.MethodGet, "/api/v1/outputs/lab/dead-letters?limit=10", &dead); code != 200 || len(dead.DeadLetters) != 1 {
		t.Fatalf("GET dead-letters = %d %+v", code, dead)
	}
	if d := dead.DeadLetters[0]; d.Event == nil || d.Event.EventID != e.ID || d.LastError != "500 for 72h" || dead.NextAfter != d.OutboxID || len(d.Event.Body) == 0 {
		t.Errorf("dead letter = %+v, want %s with its body and reason", d, e.ID)
	}
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/api/v1/outputs/nope/dead-letters", 404},
		{http.MethodGet, "/api/v1/outputs/lab/dead-letters?limit=0", 400},
		{http.MethodGet, "/api/v1/outputs/lab/dead-letters?after=x", 400},
		{http.MethodPost, "/api/v1/outputs/nope/retry", 404},
		{http.MethodPost, "/api/v1/outputs/lab/retry?dead_letters=maybe", 400},
		{http.MethodPost, "/api/v1/outputs/nope/pause", 404},
		{http.MethodGet, "/api/v1/outputs/lab/pause", 405},
	} {
		if got := call(tc.method, tc.path, nil); got != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, got, tc.want)
		}
	}
	var retried struct{ Retried int }
	if code := call(http.MethodPost, "/api/v1/outputs/lab/retry?dead_letters=true", &retried); code != 200 || retried.Retried != 1 {
		t.Errorf("POST retry dead letters = %d %+v, want 1 retried", code, retried)
	}
	if code := call(http.MethodPost, "/api/v1/outputs/lab/pause", nil); code != 200 {
		t.Errorf("POST pause = %d", code)
	}
	call(http.MethodGet, "/api/v1/outputs", &list)
	if o := list.Outputs[0]; !o.Paused || o.Pending != 1 || o.DeadLetters != 0 || o.OldestPendingAt == nil {
		t.Errorf("after retry and pause: %+v, want paused, 1 pending, no dead letters", o)
	}
	if code := call(http.MethodPost, "/api/v1/outputs/lab/resume", nil); code != 200 {
		t.Errorf("POST resume = %d", code)
	}
	// Without the token: refused, and nothing about the output leaks.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/outputs/lab/pause", nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderRequestedBy, "test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST pause without the token = %d, want 401", resp.StatusCode)
	}
	if states, _ := st.OutputStates(ctx); states[0].Paused {
		t.Error("an unauthorised pause paused the output")
	}
}
