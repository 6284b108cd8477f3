package prolifictest

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// defaultMaxCalls bounds the call record when Options.MaxCalls is zero.
const defaultMaxCalls = 10000

// maxRecordedBody bounds the request body kept in a Call.
const maxRecordedBody = 64 << 10

// Call is one API request the fake answered: what was asked and the status
// it got. The Authorization header is never recorded.
type Call struct {
	// Seq numbers calls from 1 in arrival order.
	Seq int `json:"seq"`
	// At is when the request arrived.
	At time.Time `json:"at"`
	// Route is the OpenAPI operationId (RouteTransitionStudy, ...), "" for
	// a path no route serves.
	Route  string `json:"route"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query,omitempty"`
	// Body is the request body as received (JSON), at most 64 KiB.
	Body json.RawMessage `json:"body,omitempty"`
	// Status is the answer's HTTP status.
	Status int `json:"status"`
}

// Calls returns the recorded calls, oldest first, only those to the given
// routes when any are named. The record keeps the last Options.MaxCalls.
func (f *Fake) Calls(routes ...string) []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	want := map[string]bool{}
	for _, r := range routes {
		want[r] = true
	}
	kept := f.calls[max(0, len(f.calls)-f.opts.MaxCalls):]
	out := make([]Call, 0, len(kept))
	for _, c := range kept {
		if len(want) == 0 || want[c.Route] {
			out = append(out, c)
		}
	}
	return out
}

// handleCalls serves GET /_fake/calls (no token needed): the call record
// as a JSON array, filtered by ?route=NAME (repeatable) and ?since=SEQ
// (only calls after that sequence number).
func (f *Fake) handleCalls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since := 0
	if v := q.Get("since"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fieldError("since", "A non-negative integer is required."))
			return
		}
		since = n
	}
	calls := f.Calls(q["route"]...)
	out := make([]Call, 0, len(calls))
	for _, c := range calls {
		if c.Seq > since {
			out = append(out, c)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// recordingWriter remembers the status written.
type recordingWriter struct {
	http.ResponseWriter
	status int
}

func (rw *recordingWriter) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recordingWriter) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	return rw.ResponseWriter.Write(b)
}

// record wraps h so that every request is added to the call record once
// answered. The body is read (bounded) and handed on unchanged.
func (f *Fake) record(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(io.LimitReader(r.Body, maxRecordedBody+1))
			rest := r.Body
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), rest), rest}
			if len(body) > maxRecordedBody {
				body = nil // too large to keep; still served
			}
		}
		at := f.now()
		rw := &recordingWriter{ResponseWriter: w}
		h.ServeHTTP(rw, r)
		c := Call{At: at, Route: route, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: rw.status}
		if len(body) > 0 && json.Valid(body) {
			c.Body = json.RawMessage(body)
		}
		f.mu.Lock()
		f.callSeq++
		c.Seq = f.callSeq
		f.calls = append(f.calls, c)
		// Trimmed in batches, so recording stays cheap under load.
		if len(f.calls) >= 2*f.opts.MaxCalls {
			f.calls = append(f.calls[:0:0], f.calls[len(f.calls)-f.opts.MaxCalls:]...)
		}
		f.mu.Unlock()
		if f.opts.OnCall != nil {
			f.opts.OnCall(c)
		}
	})
}

// newLimiter builds the API's rate limit from the options, nil when off.
func newLimiter(o Options) *rate.Limiter {
	if o.RateLimit <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(o.RateLimit), max(o.RateBurst, 1))
}

// limited answers 429 with Retry-After (whole seconds until a request
// would be allowed, at least 1) when the API's rate limit is exceeded.
func (f *Fake) limited(w http.ResponseWriter) bool {
	if f.limiter == nil {
		return false
	}
	now := time.Now()
	res := f.limiter.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if delay == 0 {
		return false
	}
	res.CancelAt(now)
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(delay.Seconds())))))
	writeError(w, http.StatusTooManyRequests, "Request was throttled.")
	return true
}
