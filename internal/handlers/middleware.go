package handlers

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// instrument records receiver_request_duration_seconds labelled with chi's
// route pattern (never the raw path, so labels stay bounded).
func instrument(m *Metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			route := "unmatched"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK
			}
			m.RequestDuration.WithLabelValues(route, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
		})
	}
}

// requireToken demands the admin token when one is set: as
// "Authorization: Bearer <token>" (API clients) or as the password of HTTP
// Basic auth, any user name (browsers viewing the dashboard get a prompt).
func requireToken(token string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if token == "" {
			return next
		}
		want := []byte(token)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				_, got, ok = r.BasicAuth()
			}
			if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
				w.Header().Add("WWW-Authenticate", `Bearer realm="receiver"`)
				w.Header().Add("WWW-Authenticate", `Basic realm="receiver", charset="UTF-8"`)
				writeError(w, http.StatusUnauthorized, "missing or wrong admin token (RECEIVER_ADMIN_TOKEN): send it as a bearer token or as the Basic auth password")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
