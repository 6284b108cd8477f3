package prolifictest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

func TestAuth(t *testing.T) {
	f := newTestFake(t, nil)
	tests := []struct {
		name, header string
		want         int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"wrong token", "Token nope", http.StatusUnauthorized},
		{"bearer scheme", "Bearer " + testToken, http.StatusUnauthorized},
		{"right token", "Token " + testToken, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.URL()+"/api/v1/hooks/event-types/", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	st, _, b := callToken(t, f, "wrong-token-value", "GET", "/api/v1/hooks/event-types/", nil)
	e := mustDecode[errBody](t, b)
	if st != 401 || e.Error.Status != 401 || e.Error.Title == "" || e.Error.ErrorCode == 0 || e.Error.Detail == nil {
		t.Errorf("401 body = %s, want the documented error shape with status 401", b)
	}
	if strings.Contains(string(b), "wrong-token-value") {
		t.Errorf("401 body %s echoes the token", b)
	}
}

func TestEventTypes(t *testing.T) {
	f := newTestFake(t, nil)
	st, _, b := call(t, f, "GET", "/api/v1/hooks/event-types/", nil)
	if st != http.StatusOK {
		t.Fatalf("status = %d, want 200", st)
	}
	got := map[string]bool{}
	for _, e := range mustDecode[listBody[struct {
		EventType string `json:"event_type"`
	}]](t, b).Results {
		got[e.EventType] = true
	}
	for _, want := range []string{prolific.EventSubmissionStatusChange, prolific.EventStudyStatusChange, prolific.EventStudyProgressChange, prolific.EventStudyHighReturnRate} {
		if !got[want] {
			t.Errorf("event types %v lack %q", got, want)
		}
	}
	if len(got) != 4 {
		t.Errorf("got %d event types, want 4", len(got))
	}
}

func TestSecretsOnePerWorkspace(t *testing.T) {
	f := newTestFake(t, nil)
	tests := []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"list without workspace_id", "GET", "/api/v1/hooks/secrets/", nil, 400},
		{"list unknown workspace", "GET", "/api/v1/hooks/secrets/?workspace_id=ffffffffffffffffffffffff", nil, 404},
		{"create unknown workspace", "POST", "/api/v1/hooks/secrets/", map[string]string{"workspace_id": "ffffffffffffffffffffffff"}, 404},
		{"create without workspace_id", "POST", "/api/v1/hooks/secrets/", map[string]string{}, 400},
	}
	for _, tc := range tests {
		st, _, b := call(t, f, tc.method, tc.path, tc.body)
		if st != tc.want || mustDecode[errBody](t, b).Error.Status != tc.want {
			t.Errorf("%s: status %d body %s, want %d in the error shape", tc.name, st, b, tc.want)
		}
	}
	list := func() []string {
		st, _, b := call(t, f, "GET", "/api/v1/hooks/secrets/?workspace_id="+testWS, nil)
		if st != http.StatusOK {
			t.Fatalf("list secrets: status %d, want 200", st)
		}
		var vals []string
		for _, s := range mustDecode[listBody[struct{ Value, WorkspaceID string }]](t, b).Results {
			vals = append(vals, s.Value)
		}
		return vals
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("secrets before create = %d, want 0", len(got))
	}
	first := createSecret(t, f)
	if got := list(); len(got) != 1 || got[0] != first {
		t.Fatalf("secrets after create: got %d (match %v), want exactly the created one", len(got), len(got) == 1 && got[0] == first)
	}
	second := createSecret(t, f)
	if second == first {
		t.Fatal("second create returned the same secret, want a replacement")
	}
	if got := list(); len(got) != 1 || got[0] != second {
		t.Fatalf("secrets after replace: got %d, want exactly the new one", len(got))
	}
	if cur, _ := f.Secret(testWS); cur != second {
		t.Error("Secret() does not return the replacement")
	}
}

func TestSubscriptionLifecycle(t *testing.T) {
	f := newTestFake(t, func(o *Options) { o.AllowHTTPTargets = false })
	create := map[string]string{"workspace_id": testWS, "event_type": prolific.EventStudyStatusChange, "target_url": "https://receiver.example.com/hooks/prolific"}
	if st, _, b := call(t, f, "POST", "/api/v1/hooks/subscriptions/", create); st != 400 {
		t.Fatalf("create before any secret: status %d (%s), want 400", st, b)
	}
	createSecret(t, f)
	for _, bad := range []struct{ name, url, event string }{
		{"http target", "http://receiver.example.com/hooks", prolific.EventStudyStatusChange},
		{"localhost target", "https://localhost/hooks", prolific.EventStudyStatusChange},
		{"loopback target", "https://127.0.0.1:8443/hooks", prolific.EventStudyStatusChange},
		{"unknown event type", "https://receiver.example.com/hooks", "participant.completed"},
	} {
		st, _, b := call(t, f, "POST", "/api/v1/hooks/subscriptions/", map[string]string{"workspace_id": testWS, "event_type": bad.event, "target_url": bad.url})
		if st != 400 {
			t.Errorf("create with %s: status %d (%s), want 400", bad.name, st, b)
		}
	}
	st, h, b := call(t, f, "POST", "/api/v1/hooks/subscriptions/", create)
	if st != http.StatusCreated {
		t.Fatalf("create: status %d (%s), want 201", st, b)
	}
	hookSecret := h.Get("X-Hook-Secret")
	sub := mustDecode[subBody](t, b)
	if hookSecret == "" || sub.ID == "" || sub.IsEnabled {
		t.Fatalf("create: hook secret set %v, body %s; want a secret and a disabled subscription with id", hookSecret != "", b)
	}
	path := "/api/v1/hooks/subscriptions/" + sub.ID + "/"
	listIDs := func(query string) []string {
		st, _, b := call(t, f, "GET", "/api/v1/hooks/subscriptions/"+query, nil)
		if st != http.StatusOK {
			t.Fatalf("list %q: status %d", query, st)
		}
		var ids []string
		for _, s := range mustDecode[listBody[subBody]](t, b).Results {
			ids = append(ids, s.ID)
		}
		return ids
	}
	if got := listIDs("?workspace_id=" + testWS); len(got) != 0 {
		t.Errorf("default (enabled) list before confirm = %v, want empty", got)
	}
	if got := listIDs("?is_enabled=false"); len(got) != 1 || got[0] != sub.ID {
		t.Errorf("is_enabled=false list = %v, want [%s]", got, sub.ID)
	}
	if st, _, _ := call(t, f, "PATCH", path, map[string]bool{"is_enabled": true}); st != 400 {
		t.Errorf("PATCH is_enabled=true before confirm: status %d, want 400", st)
	}
	if st, _, _ := call(t, f, "POST", path, map[string]string{"secret": "wrong"}); st != 400 {
		t.Errorf("confirm with wrong secret: status %d, want 400", st)
	}
	st, _, b = call(t, f, "POST", path, map[string]string{"secret": hookSecret})
	if st != 200 || !mustDecode[subBody](t, b).IsEnabled {
		t.Fatalf("confirm: status %d body %s, want 200 and is_enabled true", st, b)
	}
	if got := listIDs(""); len(got) != 1 || got[0] != sub.ID {
		t.Errorf("default list after confirm = %v, want [%s]", got, sub.ID)
	}
	if st, _, b := call(t, f, "GET", path, nil); st != 200 || mustDecode[subBody](t, b).TargetURL != create["target_url"] {
		t.Errorf("get: status %d body %s", st, b)
	}
	if st, _, b := call(t, f, "PATCH", path, map[string]bool{"is_enabled": false}); st != 200 || mustDecode[subBody](t, b).IsEnabled {
		t.Errorf("PATCH disable: status %d body %s, want 200 and disabled", st, b)
	}
	if got := listIDs(""); len(got) != 0 {
		t.Errorf("default list after disable = %v, want empty", got)
	}
	if st, _, _ := call(t, f, "PATCH", path, map[string]bool{"is_enabled": true}); st != 200 {
		t.Errorf("PATCH re-enable a confirmed subscription: status %d, want 200", st)
	}
	if st, _, b := call(t, f, "DELETE", path, nil); st != http.StatusNoContent || len(b) != 0 {
		t.Errorf("delete: status %d body %q, want 204 and empty", st, b)
	}
	if st, _, b := call(t, f, "GET", path, nil); st != 404 || mustDecode[errBody](t, b).Error.Status != 404 {
		t.Errorf("get after delete: status %d body %s, want 404 error shape", st, b)
	}
}

func TestCreateResponseShapes(t *testing.T) {
	for _, shape := range []string{ShapeObject, ShapeResults} {
		t.Run(shape, func(t *testing.T) {
			f := newTestFake(t, func(o *Options) { o.CreateResponseShape = shape })
			createSecret(t, f)
			st, _, b := call(t, f, "POST", "/api/v1/hooks/subscriptions/", map[string]string{"workspace_id": testWS, "event_type": prolific.EventStudyStatusChange, "target_url": "https://x.example.com/"})
			if st != 201 {
				t.Fatalf("status %d, want 201", st)
			}
			var id string
			if shape == ShapeObject {
				id = mustDecode[subBody](t, b).ID
			} else if r := mustDecode[listBody[subBody]](t, b).Results; len(r) == 1 {
				id = r[0].ID
			}
			if id == "" || len(id) != 24 {
				t.Errorf("body %s: id %q, want a 24-hex id in the %s shape", b, id, shape)
			}
		})
	}
}

func TestSubscriptionPaging(t *testing.T) {
	f := newTestFake(t, nil)
	createSecret(t, f)
	for range 5 {
		subscribe(t, f, prolific.EventStudyProgressChange, "http://127.0.0.1:1/")
	}
	tests := []struct {
		query string
		want  int
	}{
		{"?limit=2", 2}, {"?limit=2&offset=4", 1}, {"?offset=9", 0}, {"?workspace_id=" + testWS, 5},
	}
	for _, tc := range tests {
		st, _, b := call(t, f, "GET", "/api/v1/hooks/subscriptions/"+tc.query, nil)
		if got := len(mustDecode[listBody[subBody]](t, b).Results); st != 200 || got != tc.want {
			t.Errorf("list %s: status %d, %d results, want 200 and %d", tc.query, st, got, tc.want)
		}
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?offset=-1", "?is_enabled=maybe"} {
		if st, _, _ := call(t, f, "GET", "/api/v1/hooks/subscriptions/"+q, nil); st != 400 {
			t.Errorf("list %s: status %d, want 400", q, st)
		}
	}
}

func TestRoutingAndTrailingSlash(t *testing.T) {
	f := newTestFake(t, nil)
	tests := []struct {
		name, method, path string
		want               int
	}{
		{"GET without slash redirects", "GET", "/api/v1/hooks/event-types", 200},
		{"POST without slash", "POST", "/api/v1/hooks/secrets", 404},
		{"unknown path", "GET", "/api/v1/nothing/", 404},
		{"wrong method", "PUT", "/api/v1/hooks/event-types/", 405},
		{"unknown study", "GET", "/api/v1/studies/ffffffffffffffffffffffff/", 404},
		{"unknown submission", "GET", "/api/v1/submissions/ffffffffffffffffffffffff/", 404},
	}
	for _, tc := range tests {
		if st, _, _ := call(t, f, tc.method, tc.path, nil); st != tc.want {
			t.Errorf("%s: %s %s = %d, want %d", tc.name, tc.method, tc.path, st, tc.want)
		}
	}
}

func TestFailureInjection(t *testing.T) {
	f := newTestFake(t, func(o *Options) {
		o.Inject = func(r *http.Request) (int, bool) {
			return http.StatusBadGateway, r.URL.Query().Get("boom") == "1"
		}
	})
	id, err := f.CreateStudy(testWS, "", "s", 3)
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/studies/" + id + "/"
	f.FailNext(RouteGetStudy, http.StatusTooManyRequests, 2)
	f.FailNext(path, http.StatusServiceUnavailable, 1)
	wants := []int{429, 429, 503, 200}
	for i, want := range wants {
		st, h, b := call(t, f, "GET", path, nil)
		if st != want {
			t.Fatalf("request %d: status %d, want %d", i+1, st, want)
		}
		if want == 429 && h.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
		if want != 200 && mustDecode[errBody](t, b).Error.Status != want {
			t.Errorf("request %d: body %s, want the error shape", i+1, b)
		}
	}
	if st, _, _ := call(t, f, "GET", path+"?boom=1", nil); st != http.StatusBadGateway {
		t.Errorf("Inject: status %d, want 502", st)
	}
	if got, want := f.Requests(RouteGetStudy), 5; got != want {
		t.Errorf("Requests(%s) = %d, want %d", RouteGetStudy, got, want)
	}
}
