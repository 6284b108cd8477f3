package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/handlers"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

// eventsAdmin serves the real admin API over a fresh SQLite store, behind
// token, and returns both.
func eventsAdmin(t *testing.T, token string) (*sqlite.DB, string) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"), store.Options{})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(handlers.NewAdmin(handlers.Deps{
		Log: zerolog.Nop(), Reader: st, Pinger: st, Metrics: handlers.NewMetrics(reg, "test"), Gatherer: reg,
		AdminToken: token,
	}))
	t.Cleanup(srv.Close)
	return st, srv.URL
}

// saveEvents stores n submission events and returns their IDs in order.
func saveEvents(t *testing.T, st store.Store, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		e := storetest.NewEvent("submission.status.change", "sub-cli", "ACTIVE", storetest.T0.Add(time.Duration(i)*time.Second))
		if _, err := st.Save(context.Background(), e); err != nil {
			t.Fatalf("Save: %v", err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// printedIDs parses JSON lines of events, checking each has a body.
func printedIDs(t *testing.T, out string) []string {
	t.Helper()
	var ids []string
	for line := range strings.Lines(out) {
		var e handlers.EventJSON
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q is not an event: %v", line, err)
		}
		if len(e.Body) == 0 {
			t.Errorf("event %s printed without its body", e.EventID)
		}
		ids = append(ids, e.EventID)
	}
	return ids
}

func TestEventsCursorResumes(t *testing.T) {
	st, admin := eventsAdmin(t, "tok")
	first := saveEvents(t, st, 7)
	cursor := filepath.Join(t.TempDir(), "cursor")
	args := []string{"-admin-url", admin, "-token", "tok", "-limit", "3", "-cursor-file", cursor}

	var out, errOut bytes.Buffer
	if err := runEvents(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("runEvents: %v (stderr %q)", err, errOut.String())
	}
	if got := printedIDs(t, out.String()); !slices.Equal(got, first) {
		t.Fatalf("printed %v, want every event in order %v", got, first)
	}
	saved, err := os.ReadFile(cursor)
	if err != nil || strings.TrimSpace(string(saved)) != "7" {
		t.Fatalf("cursor file = %q (%v), want the last seq, 7", saved, err)
	}

	more := saveEvents(t, st, 2)
	out.Reset()
	if err := runEvents(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("runEvents again: %v", err)
	}
	if got := printedIDs(t, out.String()); !slices.Equal(got, more) {
		t.Errorf("second run printed %v, want only the new %v", got, more)
	}
}

func TestEventsFollow(t *testing.T) {
	st, admin := eventsAdmin(t, "")
	before := saveEvents(t, st, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := new(testkit.SyncBuffer)
	done := make(chan error, 1)
	go func() {
		done <- runEvents(ctx, []string{"-admin-url", admin, "-follow", "-interval", "20ms", "-after", "1"}, out, new(bytes.Buffer))
	}()
	after := saveEvents(t, st, 3)
	want := slices.Concat(before[1:], after)
	for len(strings.Split(strings.TrimSpace(out.String()), "\n")) < len(want) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runEvents -follow: %v", err)
	}
	if got := printedIDs(t, out.String()); !slices.Equal(got, want) {
		t.Errorf("followed %v, want %v", got, want)
	}
}

func TestEventsErrors(t *testing.T) {
	_, admin := eventsAdmin(t, "tok")
	bad := filepath.Join(t.TempDir(), "cursor")
	if err := os.WriteFile(bad, []byte("seven\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no token":      {[]string{"-admin-url", admin}, "401"},
		"bad cursor":    {[]string{"-admin-url", admin, "-token", "tok", "-cursor-file", bad}, `holds "seven"`},
		"bad limit":     {[]string{"-limit", "0"}, "-limit must be between 1 and 1000"},
		"negative from": {[]string{"-after", "-2"}, "-after must not be negative"},
	} {
		err := runEvents(context.Background(), tc.args, new(bytes.Buffer), new(bytes.Buffer))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, tc.want)
		}
	}
}

// TestEventsFollowsPagesCutBySize: the admin API ends a body=true page
// early once it holds a few MiB of bodies ("more": true); the export goes
// on to the end instead of taking the short page for the end of the feed.
func TestEventsFollowsPagesCutBySize(t *testing.T) {
	st, admin := eventsAdmin(t, "")
	var want []string
	for i := range 30 {
		e := storetest.NewEvent("study.progress.change", "study-big", "", storetest.T0.Add(time.Duration(i)*time.Second))
		e.Body = []byte(`{"resource_id": "study-big", "event_type": "study.progress.change", "pad": "` + strings.Repeat("x", 200<<10) + `"}`)
		if _, err := st.Save(context.Background(), e); err != nil {
			t.Fatalf("Save: %v", err)
		}
		want = append(want, e.ID)
	}
	var out, errOut bytes.Buffer
	if err := runEvents(context.Background(), []string{"-admin-url", admin, "-limit", "1000"}, &out, &errOut); err != nil {
		t.Fatalf("runEvents: %v (stderr %q)", err, errOut.String())
	}
	if got := printedIDs(t, out.String()); !slices.Equal(got, want) {
		t.Errorf("printed %d events, want all %d in order", len(got), len(want))
	}
}
