package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeAdmin serves the receiver's read API over a fixed event list
// (newest last), paging like the real one.
func fakeAdmin(t *testing.T, events []string, token string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	index := make(map[string]bool, len(events))
	for _, id := range events {
		index[id] = true
	}
	auth := func(w http.ResponseWriter, r *http.Request) bool {
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return false
		}
		return true
	}
	mux.HandleFunc("GET /api/v1/events/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !auth(w, r) {
			return
		}
		if id := r.PathValue("id"); index[id] {
			_ = json.NewEncoder(w).Encode(map[string]any{"event_id": id, "seq": 1})
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})
	mux.HandleFunc("GET /api/v1/events", func(w http.ResponseWriter, r *http.Request) {
		if !auth(w, r) {
			return
		}
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		before, _ := strconv.Atoi(r.URL.Query().Get("before"))
		if before == 0 {
			before = len(events) + 1
		}
		type ev struct {
			EventID string `json:"event_id"`
			Seq     int    `json:"seq"`
		}
		var out struct {
			Events     []ev `json:"events"`
			NextBefore int  `json:"next_before,omitempty"`
		}
		for seq := before - 1; seq >= 1 && len(out.Events) < limit; seq-- {
			out.Events = append(out.Events, ev{EventID: events[seq-1], Seq: seq})
		}
		if len(out.Events) == limit {
			out.NextBefore = out.Events[len(out.Events)-1].Seq
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func writeIDs(t *testing.T, ids ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "acked.txt")
	if err := os.WriteFile(p, []byte(strings.Join(ids, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func manyIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = prefix + strconv.Itoa(i)
	}
	return ids
}

func TestCheckAcked(t *testing.T) {
	stored := manyIDs("ev", 2100) // more than two pages
	tests := []struct {
		name         string
		events       []string
		acked        []string
		wantMissing  int
		wantRepeated int
		wantOK       bool
	}{
		{"all stored", stored, stored[:500], 0, 0, true},
		{"one missing", stored, append([]string{"nope"}, stored[:10]...), 1, 0, false},
		{"stored twice", append(append([]string{}, stored...), stored[7]), stored[:10], 0, 1, false},
		{"nothing acked", stored, nil, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeAdmin(t, tc.events, "tok")
			res, err := CheckAcked(context.Background(), srv.URL, "tok", writeIDs(t, tc.acked...))
			if err != nil {
				t.Fatalf("CheckAcked: %v", err)
			}
			if res.MissingCount != tc.wantMissing || res.RepeatedCount != tc.wantRepeated || res.OK() != tc.wantOK {
				t.Errorf("CheckAcked = missing %d repeated %d ok %v, want %d %d %v",
					res.MissingCount, res.RepeatedCount, res.OK(), tc.wantMissing, tc.wantRepeated, tc.wantOK)
			}
			if res.Stored != len(tc.events) {
				t.Errorf("Stored = %d, want %d", res.Stored, len(tc.events))
			}
		})
	}
}

func TestCheckAckedErrors(t *testing.T) {
	srv := fakeAdmin(t, []string{"a"}, "tok")
	if _, err := CheckAcked(context.Background(), srv.URL, "wrong", writeIDs(t, "a")); err == nil {
		t.Error("CheckAcked with a wrong token = nil error, want one")
	}
	if _, err := CheckAcked(context.Background(), "http://192.0.2.1:9090", "", writeIDs(t, "a")); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("CheckAcked(remote) = %v, want ErrNotLoopback", err)
	}
	if _, err := CheckAcked(context.Background(), srv.URL, "tok", filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("CheckAcked(missing file) = nil error, want one")
	}
}

func TestCheckAfterRun(t *testing.T) {
	// End to end: the fake receiver answers 503 to every fourth request and
	// "stores" the rest; the acked file must match what is stored.
	recv := newFakeReceiver(t)
	recv.answer = func(n int) int {
		if n%4 == 0 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	acked := filepath.Join(t.TempDir(), "acked.txt")
	var stdout, stderr bytes.Buffer
	t.Setenv(SecretEnv, testSecret)
	if err := Main(context.Background(), []string{"-url", recv.URL, "-count", "200", "-connections", "4", "-acked", acked}, &stdout, &stderr); err != nil {
		t.Fatalf("Main: %v", err)
	}
	var storedIDs []string
	for _, d := range recv.got() {
		if d.status == http.StatusOK {
			storedIDs = append(storedIDs, d.id)
		}
	}
	admin := fakeAdmin(t, storedIDs, "tok")
	t.Setenv(AdminTokenEnv, "tok")
	stdout.Reset()
	if err := Main(context.Background(), []string{"check", "-admin", admin.URL, "-acked", acked, "-json"}, &stdout, &stderr); err != nil {
		t.Fatalf("check: %v\n%s", err, stdout.String())
	}
	var res CheckResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Acked != 150 || res.Found != 150 || res.Stored != 150 {
		t.Errorf("check = %+v, want 150 acked, found and stored", res)
	}
	if strings.Contains(stdout.String()+stderr.String(), "tok") {
		t.Error("output contains the admin token")
	}

	// Lose one stored event: the check must fail.
	admin = fakeAdmin(t, storedIDs[1:], "tok")
	stdout.Reset()
	err := Main(context.Background(), []string{"check", "-admin", admin.URL, "-acked", acked}, &stdout, &stderr)
	if !errors.Is(err, ErrCheckFailed) {
		t.Errorf("check with a lost event = %v, want ErrCheckFailed", err)
	}
	if !strings.Contains(stdout.String(), "missing "+storedIDs[0]) {
		t.Errorf("output does not name the missing event:\n%s", stdout.String())
	}
}
