package prolific

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCreateSubscriptionShapes(t *testing.T) {
	const et, target = "study.status.change", "https://r.example/hooks/prolific"
	want := Subscription{ID: "s2", EventType: et, TargetURL: target, WorkspaceID: "w1"}
	tests := []struct {
		name    string
		body    string
		want    Subscription
		wantErr bool
	}{
		{name: "single object", body: `{"id":"s2","event_type":"study.status.change","target_url":"https://r.example/hooks/prolific","workspace_id":"w1","is_enabled":false}`, want: want},
		{name: "results, matching entry picked", body: `{"results":[
			{"id":"s1","event_type":"submission.status.change","target_url":"https://r.example/hooks/prolific","workspace_id":"w1"},
			{"id":"s2","event_type":"study.status.change","target_url":"https://r.example/hooks/prolific","workspace_id":"w1"}]}`, want: want},
		{name: "results, single entry", body: `{"results":[{"id":"s2","event_type":"study.status.change","target_url":"https://r.example/hooks/prolific","workspace_id":"w1"}]}`, want: want},
		{name: "results, none matching", body: `{"results":[{"id":"a","event_type":"x","target_url":"y"},{"id":"b","event_type":"x","target_url":"z"}]}`, wantErr: true},
		{name: "no id anywhere", body: `{"event_type":"study.status.change"}`, wantErr: true},
		{name: "not json", body: `<html>`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, sequence(status(201, tc.body, HeaderHookSecret, "hook-secret-1")))
			got, hs, err := rec.client().CreateSubscription(t.Context(), "w1", et, target)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("CreateSubscription = %+v, nil, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("subscription (-want +got):\n%s", diff)
			}
			if hs != "hook-secret-1" {
				t.Errorf("hook secret = %q, want %q", hs, "hook-secret-1")
			}
			r := rec.requests()[0]
			if r.Method != "POST" || r.Path != "/api/v1/hooks/subscriptions/" {
				t.Errorf("request = %s %s, want POST /api/v1/hooks/subscriptions/", r.Method, r.Path)
			}
			if wantBody := `{"workspace_id":"w1","event_type":"study.status.change","target_url":"https://r.example/hooks/prolific"}`; !jsonEqual(t, r.Body, wantBody) {
				t.Errorf("body = %s, want %s", r.Body, wantBody)
			}
		})
	}
}

// TestSubscriptionsPaging serves n subscriptions honouring limit/offset and
// checks the client reads them all and stops after a short page.
func TestSubscriptionsPaging(t *testing.T) {
	tests := []struct {
		n, pageSize int
		wantReqs    int
	}{
		{n: 0, pageSize: 2, wantReqs: 1},
		{n: 3, pageSize: 2, wantReqs: 2},
		{n: 4, pageSize: 2, wantReqs: 3},
		{n: 5, pageSize: 200, wantReqs: 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("n=%d,page=%d", tc.n, tc.pageSize), func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				q := r.URL.Query()
				offset, _ := strconv.Atoi(q.Get("offset"))
				limit, _ := strconv.Atoi(q.Get("limit"))
				var items []string
				for i := offset; i < min(tc.n, offset+limit); i++ {
					items = append(items, fmt.Sprintf(`{"id":"s%d","event_type":"e","target_url":"u","is_enabled":true}`, i))
				}
				reply(w, 200, `{"results":[`+strings.Join(items, ",")+`]}`)
			})
			c := rec.client()
			c.pageSize = tc.pageSize
			got, err := c.Subscriptions(t.Context(), "w1", true)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.n {
				t.Errorf("subscriptions = %d, want %d", len(got), tc.n)
			}
			reqs := rec.requests()
			if len(reqs) != tc.wantReqs {
				t.Errorf("requests = %d, want %d", len(reqs), tc.wantReqs)
			}
			for i, r := range reqs {
				q, _ := url.ParseQuery(r.RawQuery)
				if want := strconv.Itoa(i * tc.pageSize); q.Get("offset") != want || q.Get("is_enabled") != "true" {
					t.Errorf("request %d query = %s, want offset=%s is_enabled=true", i, r.RawQuery, want)
				}
			}
		})
	}
}

// TestSubscriptionsServerIgnoringOffset: a server returning the same full
// page forever must not make the client loop.
func TestSubscriptionsServerIgnoringOffset(t *testing.T) {
	rec := newRecorder(t, sequence(status(200, `{"results":[{"id":"a"},{"id":"b"}]}`)))
	c := rec.client()
	c.pageSize = 2
	got, err := c.Subscriptions(t.Context(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(rec.requests()) != 2 {
		t.Errorf("got %d subscriptions in %d requests, want 2 in 2", len(got), len(rec.requests()))
	}
	if q, _ := url.ParseQuery(rec.requests()[0].RawQuery); q.Has("workspace_id") {
		t.Errorf("query = %v, want no workspace_id when none given", q)
	}
}

func TestDecodeListShapes(t *testing.T) {
	want := []EventType{{EventType: "a"}, {EventType: "b"}}
	for _, body := range []string{
		`{"results":[{"event_type":"a"},{"event_type":"b"}]}`,
		`[{"event_type":"a"},{"event_type":"b"}]`,
		`{"results":{"1":{"event_type":"b"},"0":{"event_type":"a"}}}`,
	} {
		got, err := decodeList[EventType]("t", []byte(body))
		if err != nil {
			t.Errorf("decodeList(%s): %v", body, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("decodeList(%s) (-want +got):\n%s", body, diff)
		}
	}
	if got, err := decodeList[EventType]("t", []byte(`{"results":null}`)); err != nil || len(got) != 0 {
		t.Errorf("decodeList(null results) = %v, %v, want empty, nil", got, err)
	}
	if _, err := decodeList[EventType]("t", []byte(`{"results":"x"}`)); err == nil {
		t.Error("decodeList(string results): err = nil, want an error")
	}
}

func TestCreateSecretShapes(t *testing.T) {
	for _, body := range []string{
		`{"id":"k","value":"v","workspace_id":"w"}`,
		`{"results":[{"id":"k","value":"v","workspace_id":"w"}]}`,
	} {
		rec := newRecorder(t, sequence(status(201, body)))
		got, err := rec.client().CreateSecret(t.Context(), "w")
		if err != nil || got.Value != "v" {
			t.Errorf("CreateSecret from %s = %v, %v, want value v", body, got, err)
		}
	}
	rec := newRecorder(t, sequence(status(201, `{"id":"k"}`)))
	if _, err := rec.client().CreateSecret(t.Context(), "w"); err == nil {
		t.Error("CreateSecret without a value: err = nil, want an error")
	}
}
