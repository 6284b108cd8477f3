package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prolific-receiver/receiver/internal/handlers"
	"github.com/prolific-receiver/receiver/internal/reconcile"
)

// `receiver reconcile` prints the summary and exits non-zero when the pass
// could not read Prolific; its flags travel as query parameters.
func TestReconcileCommand(t *testing.T) {
	var gotQuery, gotAuth string
	answer := handlers.ReconcileResponse{Summary: reconcile.Summary{Pages: 4, Found: 9, Stored: 7, Present: 2, Corrections: 1, DryRun: true}}
	code := http.StatusOK
	// Behind the admin listener's write guard, so the command must send what
	// it asks for, with and without a token.
	srv := httptest.NewServer(handlers.GuardAdminWrites(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/reconcile" {
			http.NotFound(w, r)
			return
		}
		gotQuery, gotAuth = r.URL.RawQuery, r.Header.Get("Authorization")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(answer)
	})))
	defer srv.Close()
	ctx := context.Background()

	var out, errOut bytes.Buffer
	err := run(ctx, []string{"receiver", "reconcile", "-admin-url", srv.URL, "-token", "admin-tok", "-study", "s1", "-since", "72h", "-dry-run"}, &out, &errOut)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if gotQuery != "dry_run=true&since=72h0m0s&study=s1" || gotAuth != "Bearer admin-tok" {
		t.Errorf("request query %q auth %q, want the flags and the bearer token", gotQuery, gotAuth)
	}
	for _, line := range []string{"pages read       4", "events found     9", "would store      7", "already present  2", "would correct    1"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output:\n%s\nwant a line %q", out.String(), line)
		}
	}

	code = http.StatusBadGateway
	answer.Summary.DryRun = false
	answer.Error = "reconcile: subscription x: prolific hooks.subscriptions.events: 403 Forbidden"
	answer.Summary.Errors = []string{answer.Error}
	out.Reset()
	err = run(ctx, []string{"receiver", "reconcile", "-admin-url", srv.URL}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("reconcile after a 502 = %v, want the error", err)
	}
	if !strings.Contains(out.String(), "error            reconcile: subscription x") {
		t.Errorf("output:\n%s\nwant the error line", out.String())
	}

	for _, args := range [][]string{{"-study", "a", "-subscription", "b"}, {"extra"}, {"-since", "-1h"}} {
		err := run(ctx, append([]string{"receiver", "reconcile", "-admin-url", srv.URL}, args...), &out, &errOut)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("reconcile %v = %v, want a usage error", args, err)
		}
	}
}
