package prolific

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/prolific-receiver/receiver/internal/testkit"
)

func TestErrorBodyShapes(t *testing.T) {
	long := "<html>" + strings.Repeat("proxy error ", 200) + "</html>"
	tests := []struct {
		name   string
		status int
		body   string
		want   APIError
	}{
		{
			name: "documented, string detail", status: 400,
			body: `{"error":{"status":400,"error_code":140000,"title":"Bad Request","detail":"target_url must be https","traceback":"x"}}`,
			want: APIError{StatusCode: 400, ErrorCode: 140000, Title: "Bad Request", Detail: "target_url must be https"},
		},
		{
			name: "documented, array detail", status: 400,
			body: `{"error":{"status":400,"error_code":1,"title":"Bad Request","detail":["one","two"]}}`,
			want: APIError{StatusCode: 400, ErrorCode: 1, Title: "Bad Request", Detail: "one; two"},
		},
		{
			name: "documented, object detail", status: 400,
			body: `{"error":{"status":400,"error_code":1,"title":"Bad Request","detail":{"target_url":["Enter a valid URL.","Must be https."],"event_type":["Unknown."]}}}`,
			want: APIError{StatusCode: 400, ErrorCode: 1, Title: "Bad Request", Detail: "event_type: Unknown.; target_url: Enter a valid URL., Must be https."},
		},
		{
			name: "flat message and detail", status: 404,
			body: `{"message":"Not found","detail":"No Workspace matches the given query."}`,
			want: APIError{StatusCode: 404, Title: "Not Found", Detail: "Not found: No Workspace matches the given query."},
		},
		{
			name: "flat detail only", status: 401,
			body: `{"detail":"Invalid token."}`,
			want: APIError{StatusCode: 401, Title: "Unauthorized", Detail: "Invalid token."},
		},
		{
			name: "unparseable, truncated", status: 502, body: long,
			want: APIError{StatusCode: 502, Title: "Bad Gateway", Detail: strings.Join(strings.Fields(long), " ")[:maxDetail] + "…(truncated)"},
		},
		{
			name: "empty body", status: 503,
			want: APIError{StatusCode: 503, Title: "Service Unavailable"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, sequence(status(tc.status, tc.body)))
			_, err := rec.client(WithRetry(0, 0, 0)).Study(t.Context(), "st1")
			var got *APIError
			if !errors.As(err, &got) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			tc.want.Endpoint = "studies.get"
			if diff := cmp.Diff(&tc.want, got); diff != "" {
				t.Errorf("APIError (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAPIErrorMessage(t *testing.T) {
	e := &APIError{StatusCode: 404, ErrorCode: 7, Title: "Not Found", Detail: "no study", Endpoint: "studies.get"}
	if got, want := e.Error(), "prolific studies.get: 404 Not Found (error_code 7): no study"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if errors.Is(e, ErrUnauthorized) || errors.Is(e, ErrRateLimited) || !errors.Is(e, ErrNotFound) {
		t.Errorf("sentinel matching wrong for 404")
	}
}

// TestTokenNeverInErrors forces every error path — API errors whose bodies
// echo the token in each shape, exhausted retries, hang-ups, refused
// connections, timeouts, cancellation, undecodable bodies — and checks
// that no error text, nor the client's and a secret's String forms, shows it.
func TestTokenNeverInErrors(t *testing.T) {
	echo := func(shape string) func(http.ResponseWriter, *http.Request, int) {
		return func(w http.ResponseWriter, r *http.Request, _ int) {
			auth := r.Header.Get("Authorization")
			switch shape {
			case "wrapped":
				reply(w, 400, fmt.Sprintf(`{"error":{"status":400,"error_code":1,"title":"bad %s","detail":{"auth":[%q]}}}`, auth, auth))
			case "flat":
				reply(w, 401, fmt.Sprintf(`{"message":%q,"detail":%q}`, auth, auth))
			case "text":
				reply(w, 500, "upstream said: "+auth)
			case "decode":
				reply(w, 200, "not json "+auth)
			case "rate":
				reply(w, 429, `{"detail":"slow down `+auth+`"}`)
			}
		}
	}
	ctx := t.Context()
	var errs []error
	for _, shape := range []string{"wrapped", "flat", "text", "decode", "rate"} {
		rec := newRecorder(t, echo(shape))
		c := rec.client()
		_, err := c.Study(ctx, "st1")
		errs = append(errs, err)
		_, _, err = c.CreateSubscription(ctx, "w", "e", "https://x/")
		errs = append(errs, err)
		_, err = c.EventTypes(ctx)
		errs = append(errs, err)
	}
	hang := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) { hangUp(t, w) })
	_, err := hang.client().Study(ctx, "st1")
	errs = append(errs, err)

	slow := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() })
	_, err = slow.client(WithTimeout(20*time.Millisecond), WithRetry(1, time.Millisecond, time.Millisecond)).Study(ctx, "st1")
	errs = append(errs, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = slow.client().Study(cctx, "st1")
	errs = append(errs, err)

	addr := testkit.FreeAddr(t) // nothing listens here
	c := New("http://"+addr, testToken, WithRetry(1, time.Millisecond, time.Millisecond))
	_, err = c.Secrets(ctx, "w")
	errs = append(errs, err)
	// A token in the base URL's user info must not show either.
	_, err = New("http://user:"+testToken+"@"+addr, testToken, WithRetry(0, 0, 0)).Study(ctx, "st1")
	errs = append(errs, err)

	for i, err := range errs {
		if err == nil {
			t.Errorf("error path %d: err = nil, want an error", i)
			continue
		}
		for _, text := range []string{err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err)} {
			if strings.Contains(text, testToken) {
				t.Errorf("error path %d leaks the token: %s", i, text)
			}
		}
	}
	for _, text := range []string{fmt.Sprint(c), fmt.Sprintf("%+v %#v %s", c, c, c),
		fmt.Sprintf("%v %+v %#v", Secret{Value: testToken}, Secret{Value: testToken}, Secret{Value: testToken})} {
		if strings.Contains(text, testToken) {
			t.Errorf("String form leaks the token: %s", text)
		}
	}
}
