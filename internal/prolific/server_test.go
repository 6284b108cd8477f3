package prolific

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

const testToken = "tok-DO-NOT-LEAK-8f3a9c"

// recorded is one request as the fake server saw it.
type recorded struct {
	Method, Path, RawQuery string
	Auth, Accept, CType    string
	UserAgent              string
	Body                   string
}

// recorder is an httptest server that records every request and answers with
// respond, which gets the zero-based number of the request.
type recorder struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []recorded
	respond func(w http.ResponseWriter, r *http.Request, n int)
}

func newRecorder(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, n int)) *recorder {
	t.Helper()
	rec := &recorder{t: t, respond: respond}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		n := len(rec.reqs)
		rec.reqs = append(rec.reqs, recorded{
			Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Auth: r.Header.Get("Authorization"), Accept: r.Header.Get("Accept"),
			CType: r.Header.Get("Content-Type"), UserAgent: r.Header.Get("User-Agent"),
			Body: string(body),
		})
		rec.mu.Unlock()
		rec.respond(w, r, n)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

// client returns a client for the recorder with tiny back-off.
func (rec *recorder) client(opts ...Option) *Client {
	base := []Option{WithRetry(3, time.Millisecond, 5*time.Millisecond), WithTimeout(2 * time.Second)}
	return New(rec.srv.URL, testToken, append(base, opts...)...)
}

func (rec *recorder) requests() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.reqs...)
}

// reply answers with status, optional headers (key, value pairs) and body.
func reply(w http.ResponseWriter, status int, body string, headers ...string) {
	for i := 0; i+1 < len(headers); i += 2 {
		w.Header().Set(headers[i], headers[i+1])
	}
	if body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// hangUp closes the connection without any response: a network error.
func hangUp(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}

// sequence answers the n-th request with steps[n], repeating the last one.
func sequence(steps ...func(w http.ResponseWriter)) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, n int) {
		steps[min(n, len(steps)-1)](w)
	}
}

func status(code int, body string, headers ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { reply(w, code, body, headers...) }
}
