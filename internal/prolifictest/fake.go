package prolifictest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Fake is an in-memory Prolific: API server, delivery engine and study
// simulator. All methods are safe for concurrent use.
type Fake struct {
	opts    Options
	handler http.Handler

	mu          sync.Mutex
	tokens      map[string]bool
	workspaces  map[string]*workspace
	subs        map[string]*subscription
	subOrder    []string
	studies     map[string]*study
	submissions map[string]*submission
	requests    map[string]int
	failures    map[string][]injected
	stats       DeliveryStats
	pending     int
	idle        chan struct{} // closed while pending == 0
	broken      *brokenDelivery
	groups      map[string]*participantGroup
	calls       []Call
	callSeq     int
	limiter     *rate.Limiter

	q      *queue
	wg     sync.WaitGroup
	closed chan struct{}
	once   sync.Once
	srv    *httptest.Server
}

type workspace struct {
	id     string
	secret *secretRecord // nil until created
}

type secretRecord struct {
	id, value string
}

type injected struct {
	status int
	n      int
}

// New returns a Fake configured by opts with its delivery workers running.
// Call Start to serve it on a loopback port, or mount Handler yourself; call
// Close when done.
func New(opts Options) *Fake {
	opts = opts.withDefaults()
	f := &Fake{
		opts:        opts,
		tokens:      map[string]bool{},
		workspaces:  map[string]*workspace{},
		subs:        map[string]*subscription{},
		studies:     map[string]*study{},
		submissions: map[string]*submission{},
		requests:    map[string]int{},
		failures:    map[string][]injected{},
		groups:      map[string]*participantGroup{},
		limiter:     newLimiter(opts),
		idle:        make(chan struct{}),
		q:           newQueue(),
		closed:      make(chan struct{}),
	}
	close(f.idle)
	for _, t := range opts.Tokens {
		f.tokens[t] = true
	}
	for _, id := range opts.Workspaces {
		f.workspaces[id] = &workspace{id: id}
	}
	for id, value := range opts.Secrets {
		ws, ok := f.workspaces[id]
		if !ok {
			ws = &workspace{id: id}
			f.workspaces[id] = ws
		}
		ws.secret = &secretRecord{id: NewID(), value: value}
	}
	f.handler = f.routes()
	for range opts.Workers {
		f.wg.Add(1)
		go f.worker()
	}
	return f
}

// Start serves the fake on a new loopback httptest.Server.
func (f *Fake) Start() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv == nil {
		f.srv = httptest.NewServer(f.handler)
	}
}

// URL is the base URL of the started server (no trailing slash), the value
// for PROLIFIC_API_URL; "" before Start.
func (f *Fake) URL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv == nil {
		return ""
	}
	return f.srv.URL
}

// Handler is the API as an http.Handler, for serving on an address of your
// choosing.
func (f *Fake) Handler() http.Handler { return f.handler }

// Close stops the delivery workers (pending deliveries are abandoned) and the
// server started by Start.
func (f *Fake) Close() {
	f.once.Do(func() {
		close(f.closed)
		f.q.close()
		f.mu.Lock()
		srv := f.srv
		f.mu.Unlock()
		if srv != nil {
			srv.Close()
		}
		f.wg.Wait()
	})
}

// Requests is how many requests reached the named route (an OpenAPI
// operationId such as RouteGetStudy), injected failures and 401s included.
func (f *Fake) Requests(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[route]
}

// FailNext makes the next n requests to route answer status in Prolific's
// error shape. route is an operationId (RouteGetStudy, ...) or an exact URL
// path such as "/api/v1/studies/abc/". 429 answers carry Retry-After.
func (f *Fake) FailNext(route string, status, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[route] = append(f.failures[route], injected{status: status, n: n})
}

// takeFailure consumes one injected failure for route or path; f.mu held.
func (f *Fake) takeFailure(keys ...string) (int, bool) {
	for _, k := range keys {
		list := f.failures[k]
		if len(list) == 0 {
			continue
		}
		st := list[0].status
		list[0].n--
		if list[0].n <= 0 {
			list = list[1:]
		}
		f.failures[k] = list
		return st, true
	}
	return 0, false
}

// Secret returns the workspace's current signing secret, for tests.
func (f *Fake) Secret(workspaceID string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ws, ok := f.workspaces[workspaceID]
	if !ok || ws.secret == nil {
		return "", false
	}
	return ws.secret.value, true
}

// Subscription is a snapshot of one subscription, for tests.
type Subscription struct {
	ID, WorkspaceID, EventType, TargetURL string
	Enabled, Confirmed                    bool
}

// Subscriptions returns every subscription in creation order, enabled or not.
func (f *Fake) Subscriptions() []Subscription {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Subscription, 0, len(f.subOrder))
	for _, id := range f.subOrder {
		s := f.subs[id]
		out = append(out, Subscription{ID: s.id, WorkspaceID: s.workspaceID, EventType: s.eventType,
			TargetURL: s.targetURL, Enabled: s.enabled, Confirmed: s.confirmed})
	}
	return out
}

func (f *Fake) now() time.Time { return f.opts.Now().UTC() }

// NewID returns a random 24-hex-character ID, the shape of Prolific's IDs.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newSecret returns a random secret value.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
