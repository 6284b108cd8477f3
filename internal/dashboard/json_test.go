package dashboard_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/dashboard"
	"github.com/prolific-receiver/receiver/internal/store"
)

// farFutureReader holds a study whose times encoding/json refuses (after the
// year 9999), as a store written before timestamps were bounded could.
type farFutureReader struct{ store.Store }

func (farFutureReader) Studies(context.Context, store.StudyFilter) ([]store.Study, error) {
	t := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	return []store.Study{{ID: "s1", Status: "ACTIVE", StatusAt: t, LastEventAt: t, UpdatedAt: t}}, nil
}

// TestStudiesJSONCompleteOr500: studies.json is complete JSON or a 500 with
// a JSON error, never a 200 with an empty or cut body.
func TestStudiesJSONCompleteOr500(t *testing.T) {
	srv := serve(t, farFutureReader{openStore(t)}, dashboard.Options{})
	resp, err := http.Get(srv.URL + "/dashboard/studies.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Error string }
	decErr := json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode == http.StatusOK {
		if decErr != nil {
			t.Errorf("200 with a body that is not complete JSON: %v", decErr)
		}
		return
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusInternalServerError || decErr != nil || body.Error == "" || !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET studies.json = %d %s (decode %v, error %q), want 200 complete or 500 with a JSON error", resp.StatusCode, ct, decErr, body.Error)
	}
}
