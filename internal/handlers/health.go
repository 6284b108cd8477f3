package handlers

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/rs/zerolog"
)

// handleHealthz answers 200 while the process is alive.
func handleHealthz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// handleReadyz answers 200 when the store is reachable and the process is
// not shutting down, else 503.
func handleReadyz(p Pinger, draining *atomic.Bool, log zerolog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			log.Warn().Err(err).Msg("readiness check: store unreachable")
			switch {
			case errors.Is(err, store.ErrDiskFull):
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "disk full",
					"reason": "the store's last commit found no space left on its disk; ready again once space is freed"})
			case errors.Is(err, store.ErrStorageFailed):
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "storage failed",
					"reason": "the store's disk failed an fsync; the receiver stops so that a restart reopens the store"})
			default:
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unreachable"})
			}
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}
