package prolific

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestActionRequests(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		respond string
		call    func(ctx context.Context, c *Client) (any, error)
		path    string
		body    string
		want    any
	}{
		{
			name: "pause", status: 200,
			respond: `{"id":"st1","name":"Wave 1","status":"PAUSED","total_available_places":10,"places_taken":4,"number_of_submissions":5}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.TransitionStudy(ctx, "st1", TransitionPause)
			},
			path: "/api/v1/studies/st1/transition/", body: `{"action":"PAUSE"}`,
			want: Study{ID: "st1", Name: "Wave 1", Status: "PAUSED", TotalAvailablePlaces: 10, PlacesTaken: 4, NumberOfSubmissions: 5},
		},
		{
			name: "stop", status: 200, respond: `{"id":"st2","status":"COMPLETED"}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.TransitionStudy(ctx, "st2", TransitionStop)
			},
			path: "/api/v1/studies/st2/transition/", body: `{"action":"STOP"}`,
			want: Study{ID: "st2", Status: "COMPLETED"},
		},
		{
			name: "add to group", status: 200,
			respond: `{"results":[{"participant_id":"p0","datetime_created":"2026-01-01T00:00:00Z"},{"participant_id":"p1","datetime_created":"2026-01-02T00:00:00Z"}]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.AddParticipantsToGroup(ctx, "g1", []string{"p1", "p0", "p1"})
			},
			path: "/api/v1/participant-groups/g1/participants/", body: `{"participant_ids":["p1","p0"]}`,
			want: []GroupMember{{ParticipantID: "p0", DatetimeCreated: "2026-01-01T00:00:00Z"}, {ParticipantID: "p1", DatetimeCreated: "2026-01-02T00:00:00Z"}},
		},
		{
			name: "bulk approve", status: 200, respond: `"Bulk approve in progress"`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.BulkApproveSubmissions(ctx, []string{"s1", "s2", "s1"})
			},
			path: "/api/v1/submissions/bulk-approve/", body: `{"submission_ids":["s1","s2"]}`,
			want: "Bulk approve in progress",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) { reply(w, tc.status, tc.respond) })
			got, err := tc.call(t.Context(), rec.client())
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("requests = %d, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != tc.path || r.Auth != "Token "+testToken || r.CType != "application/json" {
				t.Errorf("request = %s %s auth %q type %q, want POST %s with the token as JSON", r.Method, r.Path, r.Auth, r.CType, tc.path)
			}
			if r.Body != tc.body {
				t.Errorf("body = %s, want %s", r.Body, tc.body)
			}
		})
	}
}

// TestActionsRefusedBeforeSending: bad input never reaches Prolific.
func TestActionsRefusedBeforeSending(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) { reply(w, 200, `{}`) })
	c := rec.client()
	tooMany := make([]string, MaxBulkApprove+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("s%d", i)
	}
	calls := map[string]func() error{
		"transition no id":      func() error { _, err := c.TransitionStudy(t.Context(), "", TransitionPause); return err },
		"transition bad action": func() error { _, err := c.TransitionStudy(t.Context(), "st1", "DELETE"); return err },
		"transition schedule":   func() error { _, err := c.TransitionStudy(t.Context(), "st1", TransitionSchedulePublish); return err },
		"group no id":           func() error { _, err := c.AddParticipantsToGroup(t.Context(), "", []string{"p"}); return err },
		"group no participants": func() error { _, err := c.AddParticipantsToGroup(t.Context(), "g", nil); return err },
		"group empty participant": func() error {
			_, err := c.AddParticipantsToGroup(t.Context(), "g", []string{"p", ""})
			return err
		},
		"approve none":      func() error { _, err := c.BulkApproveSubmissions(t.Context(), nil); return err },
		"approve 1001":      func() error { _, err := c.BulkApproveSubmissions(t.Context(), tooMany); return err },
		"approve empty id":  func() error { _, err := c.BulkApproveSubmissions(t.Context(), []string{""}); return err },
		"transition dot id": func() error { _, err := c.TransitionStudy(t.Context(), "..", TransitionPause); return err },
		"group dot id":      func() error { _, err := c.AddParticipantsToGroup(t.Context(), ".", []string{"p"}); return err },
	}
	for name, fn := range calls {
		err := fn()
		if err == nil || !IsPermanent(err) {
			t.Errorf("%s: err = %v, want a permanent error", name, err)
		}
	}
	if _, err := c.BulkApproveSubmissions(t.Context(), tooMany); !errors.Is(err, ErrTooManyIDs) {
		t.Errorf("1001 ids: err = %v, want ErrTooManyIDs", err)
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("requests = %d, want none", n)
	}
	// Exactly MaxBulkApprove distinct IDs, and more that are duplicates, are one call.
	if _, err := c.BulkApproveSubmissions(t.Context(), append(tooMany[:MaxBulkApprove:MaxBulkApprove], tooMany[0])); err != nil {
		t.Errorf("1000 distinct ids: %v", err)
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

// TestActionRetries: transitions and approvals move state and money, so
// they repeat only when Prolific surely did not act; adding to a group is
// idempotent and repeats after any passing failure.
func TestActionRetries(t *testing.T) {
	study := `{"id":"st1","status":"PAUSED"}`
	calls := map[string]func(c *Client) error{
		"transition": func(c *Client) error { _, err := c.TransitionStudy(t.Context(), "st1", TransitionPause); return err },
		"group": func(c *Client) error {
			_, err := c.AddParticipantsToGroup(t.Context(), "g1", []string{"p1"})
			return err
		},
		"approve": func(c *Client) error { _, err := c.BulkApproveSubmissions(t.Context(), []string{"s1"}); return err },
	}
	tests := []struct {
		name   string
		first  func(http.ResponseWriter)
		wantN  map[string]int // requests per call
		wantOK map[string]bool
	}{
		{name: "429", first: status(429, "", "Retry-After", "0"),
			wantN: map[string]int{"transition": 2, "group": 2, "approve": 2}, wantOK: map[string]bool{"transition": true, "group": true, "approve": true}},
		{name: "503", first: status(503, ""),
			wantN: map[string]int{"transition": 2, "group": 2, "approve": 2}, wantOK: map[string]bool{"transition": true, "group": true, "approve": true}},
		{name: "500", first: status(500, ""),
			wantN: map[string]int{"transition": 1, "group": 2, "approve": 1}, wantOK: map[string]bool{"group": true}},
		{name: "400", first: status(400, `{"error":{"status":400,"error_code":140000,"title":"Bad Request","detail":"Study is not active."}}`),
			wantN: map[string]int{"transition": 1, "group": 1, "approve": 1}, wantOK: map[string]bool{}},
	}
	for _, tc := range tests {
		for name, call := range calls {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				ok := status(200, study)
				if name == "group" {
					ok = status(200, `{"results":[{"participant_id":"p1"}]}`)
				}
				if name == "approve" {
					ok = status(200, `"Bulk approve in progress"`)
				}
				rec := newRecorder(t, sequence(tc.first, ok))
				err := call(rec.client())
				if n := len(rec.requests()); n != tc.wantN[name] {
					t.Errorf("requests = %d, want %d", n, tc.wantN[name])
				}
				if (err == nil) != tc.wantOK[name] {
					t.Fatalf("err = %v, want success %v", err, tc.wantOK[name])
				}
				if err != nil && IsPermanent(err) != (tc.name == "400") {
					t.Errorf("IsPermanent(%v) = %v, want %v", err, IsPermanent(err), tc.name == "400")
				}
			})
		}
	}
}

// TestActionErrorsQuoteProlific: Prolific's message reaches the caller (in
// both documented error shapes: bulk-approve answers a bare ErrorDetail),
// the token never does, even when the server echoes it.
func TestActionErrorsQuoteProlific(t *testing.T) {
	tests := []struct {
		name, body, want string
		call             func(c *Client) error
	}{
		{
			name: "transition wrapped", want: "Study cannot be paused in its current status.",
			body: `{"error":{"status":400,"error_code":140000,"title":"Bad Request","detail":"Study cannot be paused in its current status. Authorization: Token ` + testToken + `"}}`,
			call: func(c *Client) error { _, err := c.TransitionStudy(t.Context(), "st1", TransitionPause); return err },
		},
		{
			name: "bulk approve flat", want: "submission_ids: Submission s1 is not awaiting review.",
			body: `{"status":400,"error_code":140000,"title":"Bad Request","detail":{"submission_ids":["Submission s1 is not awaiting review."]},"traceback":"` + testToken + `"}`,
			call: func(c *Client) error { _, err := c.BulkApproveSubmissions(t.Context(), []string{"s1"}); return err },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) { reply(w, 400, tc.body) })
			err := tc.call(rec.client())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to quote %q", err, tc.want)
			}
			if strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), testToken) {
				t.Errorf("error %v holds the token", err)
			}
		})
	}
}

func TestTransitionTarget(t *testing.T) {
	for action, want := range map[string]string{TransitionPause: "PAUSED", TransitionStop: "COMPLETED", TransitionStart: "ACTIVE",
		TransitionPublish: "ACTIVE", TransitionCancelPublish: "UNPUBLISHED", TransitionSchedulePublish: "SCHEDULED"} {
		if got, ok := TransitionTarget(action); !ok || got != want {
			t.Errorf("TransitionTarget(%s) = %q, %v; want %q", action, got, ok, want)
		}
	}
	if _, ok := TransitionTarget("pause"); ok {
		t.Error("TransitionTarget accepted a lower-case action")
	}
}
