package prolifictest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

const (
	testToken = "test-token-not-real"
	testWS    = "60a1b2c3d4e5f6a7b8c9d0e1"
)

// newTestFake starts a fake with one token and one workspace; mod adjusts options.
func newTestFake(t *testing.T, mod func(*Options)) *Fake {
	t.Helper()
	opts := Options{Tokens: []string{testToken}, Workspaces: []string{testWS}, AllowHTTPTargets: true, TimeScale: 60000, DeliveryTimeout: 2 * time.Second}
	if mod != nil {
		mod(&opts)
	}
	f := New(opts)
	f.Start()
	t.Cleanup(f.Close)
	return f
}

// call makes an API request with the test token and returns status, headers and body.
func call(t *testing.T, f *Fake, method, path string, body any) (int, http.Header, []byte) {
	t.Helper()
	return callToken(t, f, testToken, method, path, body)
}

func callToken(t *testing.T, f *Fake, token, method, path string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// mustDecode decodes b into a new T or fails.
func mustDecode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

type errBody struct {
	Error struct {
		Status    int    `json:"status"`
		ErrorCode int    `json:"error_code"`
		Title     string `json:"title"`
		Detail    any    `json:"detail"`
	} `json:"error"`
}

type subBody struct {
	ID          string `json:"id"`
	EventType   string `json:"event_type"`
	TargetURL   string `json:"target_url"`
	IsEnabled   bool   `json:"is_enabled"`
	WorkspaceID string `json:"workspace_id"`
}

type listBody[T any] struct {
	Results []T `json:"results"`
}

// createSecret creates the workspace secret and returns its value.
func createSecret(t *testing.T, f *Fake) string {
	t.Helper()
	st, _, b := call(t, f, "POST", "/api/v1/hooks/secrets/", map[string]string{"workspace_id": testWS})
	if st != http.StatusCreated {
		t.Fatalf("create secret: status %d, want 201: %s", st, b)
	}
	return mustDecode[struct{ Value string }](t, b).Value
}

// subscribe creates and confirms a subscription and returns its ID.
func subscribe(t *testing.T, f *Fake, eventType, target string) string {
	t.Helper()
	st, h, b := call(t, f, "POST", "/api/v1/hooks/subscriptions/", map[string]string{"workspace_id": testWS, "event_type": eventType, "target_url": target})
	if st != http.StatusCreated {
		t.Fatalf("create subscription: status %d, want 201: %s", st, b)
	}
	id := mustDecode[subBody](t, b).ID
	st, _, b = call(t, f, "POST", "/api/v1/hooks/subscriptions/"+id+"/", map[string]string{"secret": h.Get("X-Hook-Secret")})
	if st != http.StatusOK {
		t.Fatalf("confirm subscription: status %d, want 200: %s", st, b)
	}
	return id
}

// delivery is one request received by a target.
type delivery struct {
	header http.Header
	body   []byte
	at     time.Time
}

// target is a webhook receiver on loopback that records every request and
// answers with respond (200 when nil).
type target struct {
	*httptest.Server
	mu      sync.Mutex
	got     []delivery
	respond func(n int, r *http.Request) int
}

func newTarget(t *testing.T, respond func(n int, r *http.Request) int) *target {
	t.Helper()
	tg := &target{respond: respond}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		tg.mu.Lock()
		tg.got = append(tg.got, delivery{header: r.Header.Clone(), body: b, at: time.Now()})
		n := len(tg.got)
		tg.mu.Unlock()
		status := http.StatusOK
		if tg.respond != nil {
			status = tg.respond(n, r)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) deliveries() []delivery {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]delivery(nil), tg.got...)
}
