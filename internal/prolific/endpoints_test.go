package prolific

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

// TestEndpoints checks, for every call, the method, path (with its trailing
// slash), query, headers and JSON body sent, and the decoded answer.
func TestEndpoints(t *testing.T) {
	sub := `{"id":"s1","event_type":"study.status.change","target_url":"https://r.example/hooks/prolific","is_enabled":true,"workspace_id":"w1"}`
	wantSub := Subscription{ID: "s1", EventType: "study.status.change", TargetURL: "https://r.example/hooks/prolific", IsEnabled: true, WorkspaceID: "w1"}
	tests := []struct {
		name      string
		status    int
		respond   string
		call      func(ctx context.Context, c *Client) (any, error)
		method    string
		path      string
		query     url.Values
		body      string // JSON; "" means no body
		want      any
		wantCType string
	}{
		{
			name: "event types", status: 200,
			respond: `{"results":[{"event_type":"study.status.change","description":"d"}]}`,
			call:    func(ctx context.Context, c *Client) (any, error) { return c.EventTypes(ctx) },
			method:  "GET", path: "/api/v1/hooks/event-types/",
			want: []EventType{{EventType: "study.status.change", Description: "d"}},
		},
		{
			name: "secrets", status: 200,
			respond: `{"results":[{"id":"k1","value":"v1","workspace_id":"w1"}]}`,
			call:    func(ctx context.Context, c *Client) (any, error) { return c.Secrets(ctx, "w1") },
			method:  "GET", path: "/api/v1/hooks/secrets/", query: url.Values{"workspace_id": {"w1"}},
			want: []Secret{{ID: "k1", Value: "v1", WorkspaceID: "w1"}},
		},
		{
			name: "create secret", status: 201,
			respond: `{"id":"k2","value":"v2","workspace_id":"w1"}`,
			call:    func(ctx context.Context, c *Client) (any, error) { return c.CreateSecret(ctx, "w1") },
			method:  "POST", path: "/api/v1/hooks/secrets/", body: `{"workspace_id":"w1"}`,
			want: Secret{ID: "k2", Value: "v2", WorkspaceID: "w1"},
		},
		{
			name: "subscriptions disabled", status: 200,
			respond: `{"results":[` + sub + `]}`,
			call:    func(ctx context.Context, c *Client) (any, error) { return c.Subscriptions(ctx, "w1", false) },
			method:  "GET", path: "/api/v1/hooks/subscriptions/",
			query: url.Values{"workspace_id": {"w1"}, "is_enabled": {"false"}, "limit": {"200"}, "offset": {"0"}},
			want:  []Subscription{wantSub},
		},
		{
			name: "subscription", status: 200, respond: sub,
			call:   func(ctx context.Context, c *Client) (any, error) { return c.Subscription(ctx, "s1") },
			method: "GET", path: "/api/v1/hooks/subscriptions/s1/", want: wantSub,
		},
		{
			name: "confirm", status: 200, respond: sub,
			call:   func(ctx context.Context, c *Client) (any, error) { return c.ConfirmSubscription(ctx, "s1", "hs") },
			method: "POST", path: "/api/v1/hooks/subscriptions/s1/", body: `{"secret":"hs"}`, want: wantSub,
		},
		{
			name: "update", status: 200, respond: sub,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.UpdateSubscription(ctx, "s1", SubscriptionUpdate{IsEnabled: ptr(true)})
			},
			method: "PATCH", path: "/api/v1/hooks/subscriptions/s1/", body: `{"is_enabled":true}`, want: wantSub,
		},
		{
			name: "update disable keeps false", status: 200, respond: sub,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.UpdateSubscription(ctx, "s1", SubscriptionUpdate{IsEnabled: ptr(false), TargetURL: ptr("https://x/")})
			},
			method: "PATCH", path: "/api/v1/hooks/subscriptions/s1/", body: `{"target_url":"https://x/","is_enabled":false}`, want: wantSub,
		},
		{
			name: "delete", status: 204,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.DeleteSubscription(ctx, "s1")
			},
			method: "DELETE", path: "/api/v1/hooks/subscriptions/s1/", want: nil,
		},
		{
			name: "events", status: 200,
			respond: `{"results":[{"id":"e1","datetime_created":"2022-12-10T18:24:36.041000Z","event_type":"study.status.change","resource_id":"r1","status":"FAILED","target_url":"https://x/","payload":{"a":1}}]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.SubscriptionEvents(ctx, "s1", EventsQuery{Offset: 5, Limit: 10, Status: []string{"FAILED", "PENDING"}, ResourceID: "r1"})
			},
			method: "GET", path: "/api/v1/hooks/subscriptions/s1/events/",
			query: url.Values{"offset": {"5"}, "limit": {"10"}, "status": {`["FAILED","PENDING"]`}, "resource_id": {"r1"}},
			want: []SubscriptionEvent{{ID: "e1", Created: mustTime(t, "2022-12-10T18:24:36.041Z"), EventType: "study.status.change",
				ResourceID: "r1", Status: "FAILED", TargetURL: "https://x/", Payload: json.RawMessage(`{"a":1}`)}},
		},
		{
			name: "study", status: 200,
			respond: `{"id":"st1","name":"N","internal_name":null,"status":"AWAITING REVIEW","total_available_places":100.0,"places_taken":42,"number_of_submissions":45,"reward":150}`,
			call:    func(ctx context.Context, c *Client) (any, error) { return c.Study(ctx, "st1") },
			method:  "GET", path: "/api/v1/studies/st1/",
			want: Study{ID: "st1", Name: "N", Status: "AWAITING REVIEW", TotalAvailablePlaces: 100, PlacesTaken: 42, NumberOfSubmissions: 45},
		},
		{
			name: "submission counts", status: 200,
			respond: `{"ACTIVE":3,"AWAITING REVIEW":2.0,"TIMED-OUT":1,"TOTAL":6}`,
			call:    func(ctx context.Context, c *Client) (any, error) { return c.SubmissionCounts(ctx, "st1") },
			method:  "GET", path: "/api/v1/studies/st1/submissions/counts/",
			want: map[string]int{"ACTIVE": 3, "AWAITING REVIEW": 2, "TIMED-OUT": 1, "TOTAL": 6},
		},
		{
			name: "submission", status: 200,
			respond: `{"id":"sb1","study_id":"st1","participant":"p1","status":"APPROVED","started_at":"2024-01-01T00:00:00Z"}`,
			call:    func(ctx context.Context, c *Client) (any, error) { return c.Submission(ctx, "sb1") },
			method:  "GET", path: "/api/v1/submissions/sb1/",
			want: Submission{ID: "sb1", StudyID: "st1", ParticipantID: "p1", Status: "APPROVED"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, sequence(status(tc.status, tc.respond)))
			got, err := tc.call(t.Context(), rec.client(WithUserAgent("receiver/test")))
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); tc.want != nil && diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("requests = %d, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tc.method || r.Path != tc.path {
				t.Errorf("request = %s %s, want %s %s", r.Method, r.Path, tc.method, tc.path)
			}
			gotQ, _ := url.ParseQuery(r.RawQuery)
			if diff := cmp.Diff(tc.query, gotQ, cmpEmptyValues); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
			if r.Auth != "Token "+testToken {
				t.Errorf("Authorization = %q, want %q", r.Auth, "Token "+testToken)
			}
			if r.Accept != "application/json" || r.UserAgent != "receiver/test" {
				t.Errorf("Accept, User-Agent = %q, %q, want application/json, receiver/test", r.Accept, r.UserAgent)
			}
			if tc.body == "" {
				if r.Body != "" {
					t.Errorf("body = %q, want none", r.Body)
				}
				return
			}
			if r.CType != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", r.CType)
			}
			if !jsonEqual(t, r.Body, tc.body) {
				t.Errorf("body = %s, want %s", r.Body, tc.body)
			}
		})
	}
}

var cmpEmptyValues = cmp.Transformer("nilEmpty", func(v url.Values) map[string][]string {
	if len(v) == 0 {
		return nil
	}
	return v
})

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("unmarshal %q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("unmarshal %q: %v", b, err)
	}
	return cmp.Equal(va, vb)
}

func TestEmptyIDNeverCallsServer(t *testing.T) {
	rec := newRecorder(t, sequence(status(200, `{}`)))
	c := rec.client()
	ctx := t.Context()
	calls := map[string]error{}
	_, calls["subscription"] = c.Subscription(ctx, "")
	_, calls["confirm"] = c.ConfirmSubscription(ctx, "", "x")
	_, calls["update"] = c.UpdateSubscription(ctx, "", SubscriptionUpdate{})
	calls["delete"] = c.DeleteSubscription(ctx, "")
	_, calls["events"] = c.SubscriptionEvents(ctx, "", EventsQuery{})
	_, calls["study"] = c.Study(ctx, "")
	_, calls["counts"] = c.SubmissionCounts(ctx, "")
	_, calls["submission"] = c.Submission(ctx, "")
	_, calls["secrets"] = c.Secrets(ctx, "")
	_, calls["create secret"] = c.CreateSecret(ctx, "")
	for name, err := range calls {
		if err == nil {
			t.Errorf("%s with empty id: err = nil, want an error", name)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
}

func TestNewDefaults(t *testing.T) {
	c := New("", testToken)
	if c.baseURL != DefaultBaseURL {
		t.Errorf("baseURL = %q, want %q", c.baseURL, DefaultBaseURL)
	}
	c = New("http://x/", testToken)
	if c.baseURL != "http://x" {
		t.Errorf("baseURL = %q, want trailing slash trimmed", c.baseURL)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDotIDNeverCallsServer: url.PathEscape keeps "." and "..", so an ID
// that is a dot segment would send the token to another resource
// (GET /api/v1/studies/../). Every call refuses it before sending.
func TestDotIDNeverCallsServer(t *testing.T) {
	rec := newRecorder(t, sequence(status(200, `{}`)))
	c := rec.client()
	ctx := t.Context()
	for _, id := range []string{".", ".."} {
		calls := map[string]error{}
		_, calls["subscription"] = c.Subscription(ctx, id)
		_, calls["events"] = c.SubscriptionEvents(ctx, id, EventsQuery{})
		_, calls["study"] = c.Study(ctx, id)
		_, calls["counts"] = c.SubmissionCounts(ctx, id)
		_, calls["submission"] = c.Submission(ctx, id)
		calls["delete"] = c.DeleteSubscription(ctx, id)
		for name, err := range calls {
			if !errors.Is(err, ErrBadPathID) {
				t.Errorf("%s(%q): err = %v, want ErrBadPathID", name, id, err)
			}
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
}

// TestWildNumbersClamped: counts from Prolific's API land in [0, MaxCount]
// (1e300 used to become a negative int and a negative total on the
// dashboard), and a count keyed by an overlong status name is dropped.
func TestWildNumbersClamped(t *testing.T) {
	long := strings.Repeat("S", MaxFieldLen+1)
	rec := newRecorder(t, sequence(
		status(200, `{"id": "s1", "name": "n", "status": "ACTIVE", "total_available_places": 1e300, "places_taken": -7, "number_of_submissions": 2.6}`),
		status(200, `{"APPROVED": 1e300, "RETURNED": -1, "TOTAL": 4, "`+long+`": 1}`)))
	c := rec.client()
	s, err := c.Study(t.Context(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if s.TotalAvailablePlaces != MaxCount || s.PlacesTaken != 0 || s.NumberOfSubmissions != 3 {
		t.Errorf("Study = %+v, want places %d, taken 0, submissions 3", s, MaxCount)
	}
	counts, err := c.SubmissionCounts(t.Context(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]int{"APPROVED": MaxCount, "RETURNED": 0, "TOTAL": 4}, counts); d != "" {
		t.Errorf("counts (-want +got):\n%s", d)
	}
}
