package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/store"
)

type pingErr struct{ err error }

func (p pingErr) Ping(context.Context) error { return p.err }

// TestReadyzSaysWhy: /readyz names a full disk and a failed fsync, so an
// operator sees why the receiver is unready (docs/powerloss.md).
func TestReadyzSaysWhy(t *testing.T) {
	for _, c := range []struct {
		err    error
		status string
	}{
		{nil, "ready"},
		{fmt.Errorf("ping: %w: no space", store.ErrDiskFull), "disk full"},
		{fmt.Errorf("ping: %w: sync WAL: input/output error", store.ErrStorageFailed), "storage failed"},
		{fmt.Errorf("ping: connection refused"), "store unreachable"},
	} {
		rec := httptest.NewRecorder()
		handleReadyz(pingErr{c.err}, new(atomic.Bool), zerolog.Nop())(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		var body map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: %v", c.err, err)
		}
		want := http.StatusServiceUnavailable
		if c.err == nil {
			want = http.StatusOK
		}
		if rec.Code != want || body["status"] != c.status {
			t.Errorf("ping error %v: /readyz = %d %v, want %d with status %q", c.err, rec.Code, body, want, c.status)
		}
		if c.status == "disk full" || c.status == "storage failed" {
			if body["reason"] == "" {
				t.Errorf("/readyz %q gives no reason", c.status)
			}
		}
	}
}
