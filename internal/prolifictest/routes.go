package prolifictest

import (
	"net/http"
	"strings"
)

// Route names are the OpenAPI operationIds; use them with Requests and FailNext.
const (
	RouteGetEventTypes        = "get-event-types"
	RouteGetSecrets           = "get-secrets"
	RouteCreateSecret         = "create-secret"
	RouteGetSubscriptions     = "get-subscriptions"
	RouteCreateSubscription   = "create-subscription"
	RouteGetSubscription      = "get-subscription"
	RouteConfirmSubscription  = "confirm-subscription"
	RouteUpdateSubscription   = "update-subscription"
	RouteDeleteSubscription   = "delete-subscription"
	RouteGetEvents            = "get-events"
	RouteGetStudy             = "get-study"
	RouteCountStudySubmission = "count-study-submissions-by-status"
	RouteGetSubmission        = "get-submission"
	RouteGetSubmissions       = "get-submissions"
	// RouteTransitionStudy is POST /studies/{id}/transition/, whose
	// operationId is "publish-study" in the OpenAPI document.
	RouteTransitionStudy          = "publish-study"
	RouteAddToParticipantGroup    = "add-to-participant-group"
	RouteGetParticipantGroupUsers = "get-participant-group-participants"
	RouteBulkApproveSubmissions   = "bulk-approve-submissions"
)

// FakeCallsPath serves the call record (GET, no token); see Fake.Calls.
const FakeCallsPath = "/_fake/calls"

// routes builds the whole API surface. Every path keeps Prolific's trailing
// slash; a GET without it is redirected (301) like Django's APPEND_SLASH, any
// other method without it is 404.
func (f *Fake) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(name, pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, f.record(name, f.instrument(name, h)))
	}
	handle(RouteGetEventTypes, "GET /api/v1/hooks/event-types/{$}", f.handleEventTypes)
	handle(RouteGetSecrets, "GET /api/v1/hooks/secrets/{$}", f.handleListSecrets)
	handle(RouteCreateSecret, "POST /api/v1/hooks/secrets/{$}", f.handleCreateSecret)
	handle(RouteGetSubscriptions, "GET /api/v1/hooks/subscriptions/{$}", f.handleListSubscriptions)
	handle(RouteCreateSubscription, "POST /api/v1/hooks/subscriptions/{$}", f.handleCreateSubscription)
	handle(RouteGetSubscription, "GET /api/v1/hooks/subscriptions/{id}/{$}", f.handleGetSubscription)
	handle(RouteConfirmSubscription, "POST /api/v1/hooks/subscriptions/{id}/{$}", f.handleConfirmSubscription)
	handle(RouteUpdateSubscription, "PATCH /api/v1/hooks/subscriptions/{id}/{$}", f.handleUpdateSubscription)
	handle(RouteDeleteSubscription, "DELETE /api/v1/hooks/subscriptions/{id}/{$}", f.handleDeleteSubscription)
	handle(RouteGetEvents, "GET /api/v1/hooks/subscriptions/{id}/events/{$}", f.handleListEvents)
	handle(RouteGetStudy, "GET /api/v1/studies/{id}/{$}", f.handleGetStudy)
	handle(RouteCountStudySubmission, "GET /api/v1/studies/{id}/submissions/counts/{$}", f.handleCountSubmissions)
	handle(RouteGetSubmission, "GET /api/v1/submissions/{id}/{$}", f.handleGetSubmission)
	handle(RouteGetSubmissions, "GET /api/v1/submissions/{$}", f.handleListSubmissions)
	handle(RouteTransitionStudy, "POST /api/v1/studies/{id}/transition/{$}", f.handleTransitionStudy)
	handle(RouteAddToParticipantGroup, "POST /api/v1/participant-groups/{id}/participants/{$}", f.handleAddToGroup)
	handle(RouteGetParticipantGroupUsers, "GET /api/v1/participant-groups/{id}/participants/{$}", f.handleGroupMembers)
	handle(RouteBulkApproveSubmissions, "POST /api/v1/submissions/bulk-approve/{$}", f.handleBulkApprove)

	// Requests no route serves are recorded too (Route ""), so a client
	// calling a wrong path shows in the record.
	unrouted := f.record("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/") {
			if r.Method == http.MethodGet && matches(mux, r, r.URL.Path+"/", http.MethodGet) {
				u := *r.URL
				u.Path += "/"
				http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
				return
			}
			writeError(w, http.StatusNotFound, "Not found.")
			return
		}
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
			if matches(mux, r, r.URL.Path, m) {
				writeError(w, http.StatusMethodNotAllowed, "Method \""+r.Method+"\" not allowed.")
				return
			}
		}
		writeError(w, http.StatusNotFound, "Not found.")
	}))

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimSuffix(r.URL.Path, "/") == FakeCallsPath {
			if r.Method != http.MethodGet {
				writeError(w, http.StatusMethodNotAllowed, "Method \""+r.Method+"\" not allowed.")
				return
			}
			f.handleCalls(w, r)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/") {
			if _, pattern := mux.Handler(r); pattern != "" {
				mux.ServeHTTP(w, r)
				return
			}
		}
		unrouted.ServeHTTP(w, r)
	})
}

// matches reports whether mux has a route for method and path.
func matches(mux *http.ServeMux, r *http.Request, path, method string) bool {
	c := r.Clone(r.Context())
	c.Method = method
	u := *r.URL
	u.Path = path
	u.RawPath = ""
	c.URL = &u
	_, pattern := mux.Handler(c)
	return pattern != ""
}

// instrument counts the request, applies injected failures and the rate
// limit, then checks the API token before calling h.
func (f *Fake) instrument(name string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests[name]++
		status, fail := f.takeFailure(name, r.URL.Path)
		f.mu.Unlock()
		if !fail && f.opts.Inject != nil {
			status, fail = f.opts.Inject(r)
		}
		if fail {
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", f.opts.RetryAfter)
			}
			writeError(w, status, "Injected failure.")
			return
		}
		if f.limited(w) {
			return
		}
		if !f.authorized(r) {
			writeError(w, http.StatusUnauthorized, "Invalid token.")
			return
		}
		h(w, r)
	})
}

func (f *Fake) authorized(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Token ")
	if !ok || token == "" {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens[token]
}
