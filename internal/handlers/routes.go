package handlers

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Mounter adds routes to the admin router (the dashboard does).
type Mounter interface {
	Mount(r chi.Router)
}

// NewPublic returns the handler for the public listener: only the webhook.
func NewPublic(d Deps) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Use(instrument(d.Metrics))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: webhooks go to POST /hooks/prolific")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method not allowed: use POST")
	})
	r.Post("/hooks/prolific", verifyDelivery(&d, handleWebhook(&d)))
	return r
}

// NewAdmin returns the handler for the admin listener: health and metrics
// (open, for probes and scrapers), and the read API and the dashboard, both
// behind the admin token when one is set. Every state-changing request on it
// passes GuardAdminWrites first (cross-site requests refused).
func NewAdmin(d Deps) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Use(instrument(d.Metrics))
	r.Use(GuardAdminWrites)
	r.Get("/healthz", handleHealthz())
	r.Get("/readyz", handleReadyz(&d))
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{}))
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(requireToken(d.AdminToken))
		r.Get("/events", handleListEvents(&d))
		r.Get("/events/{event_id}", handleGetEvent(&d))
		r.Get("/studies", handleListStudies(&d))
		r.Get("/studies/{id}", handleGetStudy(&d))
		r.Get("/studies/{id}/events", handleStudyEvents(&d))
		r.Get("/submissions/{id}", handleGetSubmission(&d))
		r.Post("/reconcile", handleReconcile(&d))
		if d.Actions != nil {
			r.Get("/actions", handleListActions(&d))
		}
		if d.Outbox != nil {
			r.Get("/outputs", handleListOutputs(&d))
			r.Get("/outputs/{name}/dead-letters", handleDeadLetters(&d))
			r.Post("/outputs/{name}/retry", handleRetryOutput(&d))
			r.Post("/outputs/{name}/pause", handlePauseOutput(&d, true))
			r.Post("/outputs/{name}/resume", handlePauseOutput(&d, false))
		}
	})
	if d.Dashboard != nil {
		r.Group(func(r chi.Router) {
			r.Use(requireToken(d.AdminToken))
			d.Dashboard.Mount(r)
		})
	}
	return r
}
