package reconcile_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/prolific-receiver/receiver/internal/prolifictest"
)

func prolifictestField(k string, v any) prolifictest.Field { return prolifictest.F(k, v) }

// statusOf reads the status field of a payload.
func statusOf(t *testing.T, payload []byte) string {
	t.Helper()
	var v struct{ Status string }
	if err := json.Unmarshal(payload, &v); err != nil {
		t.Fatal(err)
	}
	return v.Status
}

// spaced re-spaces a JSON text the way a different serialiser would.
func spaced(b []byte) []byte {
	return []byte(strings.ReplaceAll(strings.ReplaceAll(string(b), ", ", ","), ": ", ":"))
}
