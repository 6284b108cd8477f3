package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prolific-receiver/receiver/internal/reconcile"
)

// reconcileWriteTimeout replaces the admin listener's write timeout for
// one on-demand pass, which reads Prolific's API at the rate limit and may
// take minutes.
const reconcileWriteTimeout = 30 * time.Minute

// ReconcileResponse is the answer of POST /api/v1/reconcile.
type ReconcileResponse struct {
	Summary reconcile.Summary `json:"summary"`
	// Error says what could not be read or written; empty on success.
	Error string `json:"error,omitempty"`
}

// handleReconcile runs one reconciliation pass on demand (receiver
// reconcile): query parameters study, subscription, since (a duration
// back from now such as 72h, or an RFC 3339 time), dry_run and
// all_statuses. It answers 200 with the summary, 502 with the summary and
// the error when Prolific could not be read or the store not written, 400
// for bad parameters, and 503 without an API token.
func handleReconcile(rec Reconciler, now func() time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rec == nil {
			writeError(w, http.StatusServiceUnavailable, "reconciliation needs PROLIFIC_API_TOKEN")
			return
		}
		q := r.URL.Query()
		req := reconcile.Request{StudyID: q.Get("study"), SubscriptionID: q.Get("subscription")}
		if req.StudyID != "" && req.SubscriptionID != "" {
			writeError(w, http.StatusBadRequest, "give study or subscription, not both")
			return
		}
		if v := q.Get("since"); v != "" {
			since, ok := parseSince(v, now())
			if !ok {
				writeError(w, http.StatusBadRequest, "since must be a positive duration (72h) or an RFC 3339 time")
				return
			}
			req.Since = since
		}
		for name, dst := range map[string]*bool{"dry_run": &req.DryRun, "all_statuses": &req.AllStatuses} {
			if v := q.Get(name); v != "" {
				b, err := strconv.ParseBool(v)
				if err != nil {
					writeError(w, http.StatusBadRequest, name+" must be true or false")
					return
				}
				*dst = b
			}
		}
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(reconcileWriteTimeout))
		sum, err := rec.Run(r.Context(), req)
		if err != nil {
			writeJSON(w, http.StatusBadGateway, ReconcileResponse{Summary: sum, Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, ReconcileResponse{Summary: sum})
	}
}

// parseSince reads a duration back from now or an RFC 3339 time.
func parseSince(v string, now time.Time) (time.Time, bool) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), d > 0
	}
	t, err := time.Parse(time.RFC3339, v)
	return t, err == nil
}
