package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// unencodableReader answers with a time encoding/json refuses (after the
// year 9999), as a store holding one from before the timestamp fix would.
type unencodableReader struct{ Reader }

var year10000 = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)

func (unencodableReader) Events(context.Context, store.EventFilter) ([]store.Event, error) {
	return []store.Event{{Seq: 1, ID: "e1", Type: "study.status.change", EventTime: year10000, ReceivedAt: year10000}}, nil
}

func (unencodableReader) Studies(context.Context, store.StudyFilter) ([]store.Study, error) {
	return []store.Study{{ID: "s1", Status: "ACTIVE", StatusAt: year10000, UpdatedAt: year10000}}, nil
}

// TestJSONAnswerCompleteOr500: an answer that cannot be encoded is a 500
// with a JSON error, never a 200 with an empty or cut body (which `receiver
// events` read as "decode response: EOF").
func TestJSONAnswerCompleteOr500(t *testing.T) {
	tr := newTestReceiver(t, func(d *Deps) { d.Reader = unencodableReader{d.Reader} })
	for _, path := range []string{"/api/v1/events", "/api/v1/events?after=0&body=true", "/api/v1/studies"} {
		resp, err := http.Get(tr.admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ Error string }
		decErr := json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError || decErr != nil || out.Error == "" {
			t.Errorf("GET %s = %d (decode: %v, error %q), want 500 with a JSON error", path, resp.StatusCode, decErr, out.Error)
		}
	}
}
