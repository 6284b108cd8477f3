package bootstrap

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

const (
	token     = "tok-bootstrap-test-3b9e"
	workspace = "aaaaaaaaaaaaaaaaaaaaaaaa"
	publicURL = "https://receiver.example.com/hooks/prolific"
)

// env is the fake Prolific behind a recording server.
type env struct {
	t    *testing.T
	fake *prolifictest.Fake
	srv  *httptest.Server
	logs *testkit.SyncBuffer

	mu   sync.Mutex
	reqs []string // "METHOD /path/"
	// gate, when set, runs before a request reaches the fake.
	gate func(r *http.Request)
}

func newEnv(t *testing.T, opts prolifictest.Options) *env {
	t.Helper()
	if opts.Tokens == nil {
		opts.Tokens = []string{token}
	}
	if opts.Workspaces == nil {
		opts.Workspaces = []string{workspace}
	}
	opts.MaxRetries = -1
	e := &env{t: t, fake: prolifictest.New(opts), logs: &testkit.SyncBuffer{}}
	t.Cleanup(e.fake.Close)
	h := e.fake.Handler()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.reqs = append(e.reqs, r.Method+" "+r.URL.Path)
		gate := e.gate
		e.mu.Unlock()
		if gate != nil {
			gate(r)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// client returns a client for the env with tiny back-off.
func (e *env) client(tok string) *prolific.Client {
	return prolific.New(e.srv.URL, tok, prolific.WithRetry(2, time.Millisecond, 5*time.Millisecond),
		prolific.WithTimeout(5*time.Second))
}

func (e *env) logger() zerolog.Logger { return zerolog.New(e.logs) }

func (e *env) requests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.reqs...)
}

// mutations are the requests that are not GETs.
func (e *env) mutations() []string {
	var out []string
	for _, r := range e.requests() {
		if !strings.HasPrefix(r, "GET ") {
			out = append(out, r)
		}
	}
	return out
}

func (e *env) resetRequests() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reqs = nil
}

// subsFor returns the fake's subscriptions for an event type at publicURL.
func (e *env) subsFor(eventType string) []prolifictest.Subscription {
	var out []prolifictest.Subscription
	for _, s := range e.fake.Subscriptions() {
		if s.EventType == eventType && s.TargetURL == publicURL {
			out = append(out, s)
		}
	}
	return out
}

func cfg() Config {
	return Config{WorkspaceID: workspace, PublicURL: publicURL}
}
