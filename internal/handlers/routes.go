package handlers

import (
	"net/http"
	"sync/atomic"

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
	wd := d.webhook()
	hook := verifyDelivery(wd, handleWebhook(wd))
	r.Post(webhookPath, hook)
	// The same middleware and handler, without chi's routing on the way
	// (bench/profiling.md, "Eleventh look").
	return webhookFirst(middleware.Recoverer(instrumentWebhook(d.Metrics, hook)), r)
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
	draining := d.Draining
	if draining == nil {
		draining = new(atomic.Bool)
	}
	errs := apiErrors{log: d.Log, metrics: d.Metrics}
	r.Get("/healthz", handleHealthz())
	r.Get("/readyz", handleReadyz(d.Pinger, draining, d.Log))
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{}))
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(requireToken(d.AdminToken))
		r.Get("/events", handleListEvents(d.Reader, errs))
		r.Get("/events/{event_id}", handleGetEvent(d.Reader, errs))
		r.Get("/studies", handleListStudies(d.Reader, errs))
		r.Get("/studies/{id}", handleGetStudy(d.Reader, errs))
		r.Get("/studies/{id}/events", handleStudyEvents(d.Reader, errs))
		r.Get("/submissions/{id}", handleGetSubmission(d.Reader, errs))
		r.Post("/reconcile", handleReconcile(d.Reconciler, d.clock()))
		if d.Actions != nil {
			r.Get("/actions", handleListActions(d.Actions, errs))
		}
		if d.Outbox != nil {
			o := &outputsAPI{outbox: d.Outbox, outputs: d.Outputs, log: d.Log, now: d.clock(), errs: errs}
			r.Get("/outputs", o.handleList())
			r.Get("/outputs/{name}/dead-letters", o.handleDeadLetters())
			r.Post("/outputs/{name}/retry", o.handleRetry())
			r.Post("/outputs/{name}/pause", o.handlePause(true))
			r.Post("/outputs/{name}/resume", o.handlePause(false))
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
