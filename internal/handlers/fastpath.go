package handlers

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// webhookPath is where Prolific posts every event.
const webhookPath = "/hooks/prolific"

// webhookFirst sends a request for the webhook route straight to hook and
// every other request to router. The route is the one the router itself
// would pick for it (POST, and the path as chi routes it: the raw path
// when the URL has one), so answers do not change; the webhook only skips
// chi's routing context and its per-request allocations.
func webhookFirst(hook, router http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.RawPath == "" && r.URL.Path == webhookPath {
			hook.ServeHTTP(w, r)
			return
		}
		router.ServeHTTP(w, r)
	})
}

// instrumentWebhook is instrument for the webhook route alone: the same
// receiver_request_duration_seconds series, labelled with the route and the
// status code, but with a pooled status recorder and the series looked up
// by code without hashing the labels.
func instrumentWebhook(m *Metrics, next http.Handler) http.Handler {
	durations := newChildren(numCodes, func(i int) prometheus.Observer {
		return m.RequestDuration.WithLabelValues(webhookPath, strconv.Itoa(minCode+i))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := statusWriters.Get().(*statusWriter)
		sw.ResponseWriter, sw.status = w, 0
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		*sw = statusWriter{}
		statusWriters.Put(sw)
		took := time.Since(start).Seconds()
		if status >= minCode && status < minCode+numCodes {
			durations.get(status - minCode).Observe(took)
			return
		}
		m.RequestDuration.WithLabelValues(webhookPath, strconv.Itoa(status)).Observe(took)
	})
}

// The status codes whose duration series instrumentWebhook memoizes.
const (
	minCode  = 100
	numCodes = 500
)

// statusWriter records the status a handler answered with, as chi's
// middleware.WrapResponseWriter does for instrument: informational (1xx)
// headers pass through unrecorded, and a second WriteHeader is dropped. It
// is pooled, so nothing may keep it once the handler has returned (the
// webhook handler does not).
type statusWriter struct {
	http.ResponseWriter
	status int
}

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// WriteHeader records the first final status and passes it on.
func (s *statusWriter) WriteHeader(code int) {
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		s.ResponseWriter.WriteHeader(code)
		return
	}
	if s.status != 0 {
		return
	}
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Write sends the header with 200 first if none was written.
func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// children memoizes a metric vector's children for label values known by
// index: each is made on first use (so a series appears only once it has
// been observed, as with WithLabelValues) and then found without hashing
// its labels or taking the vector's lock. Two first uses at once both ask
// the vector, which hands both the same child.
type children[T any] struct {
	slots []atomic.Pointer[T]
	child func(i int) T
}

func newChildren[T any](n int, child func(i int) T) *children[T] {
	return &children[T]{slots: make([]atomic.Pointer[T], n), child: child}
}

// get returns child i, making it on first use.
func (c *children[T]) get(i int) T {
	if p := c.slots[i].Load(); p != nil {
		return *p
	}
	v := c.child(i)
	c.slots[i].Store(&v)
	return v
}
