package dashboard

import (
	"encoding/json"
	"net/http"

	"github.com/prolific-receiver/receiver/internal/store"
)

// snapshot reads the studies, most recently active first.
func (d *Dashboard) snapshot(r *http.Request) (snapshot, error) {
	studies, err := d.r.Studies(r.Context(), store.StudyFilter{Limit: d.opts.MaxStudies})
	if err != nil {
		return snapshot{}, err
	}
	return newSnapshot(studies, d.opts.Now(), d.opts.PollInterval, d.opts.MaxStudies), nil
}

// handleIndex serves GET /: the studies page.
func (d *Dashboard) handleIndex(w http.ResponseWriter, r *http.Request) {
	s, err := d.snapshot(r)
	if err != nil {
		d.fail(w, r, err, "studies")
		return
	}
	d.render(w, r, http.StatusOK, "index", page{Title: "Studies", Nav: "studies", Data: s})
}

// handleStudiesJSON serves GET /dashboard/studies.json: the studies page's
// data, polled by its script.
func (d *Dashboard) handleStudiesJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s, err := d.snapshot(r)
	if err != nil {
		if r.Context().Err() == nil {
			d.opts.Log.Error().Err(err).Str("path", r.URL.Path).Msg("dashboard: store error")
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "store unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// writeJSON encodes v before the header goes out, so the answer is complete
// JSON or a 500 with a JSON error (a time past the year 9999 does not encode).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, status = []byte(`{"error":"encoding failed"}`), http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
