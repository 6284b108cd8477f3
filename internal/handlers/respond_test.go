package handlers

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestWriteAckMatchesWriteJSON: the hand-built webhook answer is byte for
// byte what encoding/json writes, headers included, for IDs with every
// character that needs care.
func TestWriteAckMatchesWriteJSON(t *testing.T) {
	for _, id := range []string{
		"66c5d2a0f1b3c4d5e6f70123", "", `a"b`, `back\slash`, `<script>&`, "tab\there", "é", "~ !#$%'()*+,-./:;=?@[]^_`{|}",
	} {
		for _, outcome := range []string{"stored", "duplicate"} {
			got, want := httptest.NewRecorder(), httptest.NewRecorder()
			writeAck(got, outcome, id)
			writeJSON(want, http.StatusOK, ack{Status: outcome, EventID: id})
			if got.Code != want.Code || got.Body.String() != want.Body.String() {
				t.Errorf("writeAck(%q, %q) = %d %q, want %d %q", outcome, id, got.Code, got.Body, want.Code, want.Body)
			}
			for _, h := range []string{"Content-Type", "Cache-Control"} {
				if got.Header().Get(h) != want.Header().Get(h) {
					t.Errorf("writeAck %s = %q, want %q", h, got.Header().Get(h), want.Header().Get(h))
				}
			}
		}
	}
}
