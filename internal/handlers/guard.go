package handlers

import (
	"mime"
	"net/http"
	"strings"
)

// HeaderRequestedBy is the custom header a state-changing admin request
// must carry when it does not carry a bearer token. Its value is free (the
// CLI sends "receiver-cli"); what matters is that a page on another origin
// cannot add a custom header to a request without a CORS preflight, which
// the admin listener never grants.
const HeaderRequestedBy = "X-Requested-By"

// crossOrigin is net/http's check of Sec-Fetch-Site and Origin against Host.
var crossOrigin = http.NewCrossOriginProtection()

// GuardAdminWrites refuses state-changing admin requests (any method but
// GET, HEAD and OPTIONS) that a browser could have sent on behalf of a page
// on another origin. Such a request must
//
//   - not come from another origin: Sec-Fetch-Site other than same-origin
//     or none, or an Origin whose host is not the request's Host, is 403;
//   - be application/json (Content-Type; a body-less request too): 415
//     otherwise, which rules out the form encodings and text/plain that an
//     HTML form can post anywhere;
//   - carry "Authorization: Bearer ..." or the X-Requested-By header: 403
//     otherwise. HTTP Basic credentials do not count, because a browser
//     replays them on cross-site requests by itself.
//
// It checks nothing about the token itself (requireToken does). Safe
// methods pass untouched, so GET handlers must stay free of side effects.
// NewAdmin applies it to the whole admin router, so every write route,
// present or added later, is behind it; a router mounted elsewhere wraps
// its write routes with it the same way.
func GuardAdminWrites(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		if err := crossOrigin.Check(r); err != nil {
			writeError(w, http.StatusForbidden, "cross-origin request refused: admin writes are accepted only from the receiver's own origin or from non-browser clients")
			return
		}
		if !isJSON(r.Header.Get("Content-Type")) {
			writeError(w, http.StatusUnsupportedMediaType, "admin writes must be sent as Content-Type: application/json")
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") && r.Header.Get(HeaderRequestedBy) == "" {
			writeError(w, http.StatusForbidden, "admin writes need an X-Requested-By header or the admin token as a bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isJSON reports whether a Content-Type value names application/json.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
