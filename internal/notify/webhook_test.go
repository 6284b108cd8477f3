package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/prolific-receiver/receiver/internal/notify"
	"github.com/prolific-receiver/receiver/internal/notifytest"
)

// Tokens in the webhook URLs: they must never show in an error.
const (
	slackToken = "xoxSLACKTOKENabc123"
	teamsSig   = "TEAMSSIGdef456ghi"
)

// posted is one request a test server saw.
type posted struct {
	method, path, contentType string
	body                      []byte
}

// recorder answers every request with status (and Retry-After when set),
// echoing the request URL in error bodies as a careless proxy might.
type recorder struct {
	mu         sync.Mutex
	got        []posted
	status     int
	retryAfter string
	delay      time.Duration
	bigBody    bool
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.got = append(rec.got, posted{r.Method, r.URL.Path, r.Header.Get("Content-Type"), b})
	status, ra, delay, big := rec.status, rec.retryAfter, rec.delay, rec.bigBody
	rec.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status == 0 {
		status = http.StatusOK
	}
	if ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	if status >= 300 && status < 400 {
		w.Header().Set("Location", "https://elsewhere.example/"+r.URL.RequestURI())
	}
	w.WriteHeader(status)
	if status >= 300 {
		fmt.Fprintf(w, "error for %s", r.URL.RequestURI())
		if big {
			fmt.Fprint(w, strings.Repeat("x", 1<<20))
		}
		return
	}
	fmt.Fprint(w, "ok")
}

func (rec *recorder) requests() []posted {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]posted(nil), rec.got...)
}

type channel struct {
	name   string
	newURL func(base string) string
	make   func(url string, opts ...notify.Option) (notify.Sender, error)
	secret string
}

var channels = []channel{
	{
		name:   "slack",
		newURL: func(base string) string { return base + "/services/T0001/B0002/" + slackToken },
		make: func(u string, opts ...notify.Option) (notify.Sender, error) {
			return notify.NewSlack(u, opts...)
		},
		secret: slackToken,
	},
	{
		name: "teams",
		newURL: func(base string) string {
			return base + "/workflows/0a1b/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + teamsSig
		},
		make: func(u string, opts ...notify.Option) (notify.Sender, error) {
			return notify.NewTeams(u, opts...)
		},
		secret: teamsSig,
	},
}

var sample = notify.Message{
	Subject: "Study Wave 2 <pilot> & co: 300 submissions await review",
	Text:    "300 submissions of Wave 2 have been AWAITING REVIEW for over 1h.\n42 arrived since the last message.",
	Link:    "https://receiver.lab.example/dashboard/studies/abc",
}

// sendSample sends sample through ch to a server answering as rec does
// and returns the one request it saw.
func sendSample(t *testing.T, ch channel, rec *recorder) posted {
	t.Helper()
	srv := httptest.NewServer(rec)
	defer srv.Close()
	s, err := ch.make(ch.newURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), sample); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := rec.requests()
	if len(got) != 1 {
		t.Fatalf("got %d requests, want 1", len(got))
	}
	return got[0]
}

func TestSlackPayload(t *testing.T) {
	got := sendSample(t, channels[0], &recorder{})
	if got.method != http.MethodPost || got.contentType != "application/json" || got.path != "/services/T0001/B0002/"+slackToken {
		t.Errorf("request = %s %s (%s), want POST to the webhook path as JSON", got.method, got.path, got.contentType)
	}
	var body map[string]any
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	want := map[string]any{
		"text": "*Study Wave 2 &lt;pilot&gt; &amp; co: 300 submissions await review*\n" +
			"300 submissions of Wave 2 have been AWAITING REVIEW for over 1h.\n42 arrived since the last message.\n" +
			"<https://receiver.lab.example/dashboard/studies/abc|Open dashboard>",
		"unfurl_links": false,
		"unfurl_media": false,
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

func TestTeamsPayload(t *testing.T) {
	got := sendSample(t, channels[1], &recorder{status: http.StatusAccepted})
	var body any
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	want := map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content": map[string]any{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard",
				"version": "1.4",
				"body": []any{
					map[string]any{"type": "TextBlock", "text": sample.Subject, "weight": "Bolder", "size": "Medium", "wrap": true},
					map[string]any{"type": "TextBlock", "text": "300 submissions of Wave 2 have been AWAITING REVIEW for over 1h.", "wrap": true, "spacing": "Small"},
					map[string]any{"type": "TextBlock", "text": "42 arrived since the last message.", "wrap": true, "spacing": "Small"},
				},
				"actions": []any{map[string]any{"type": "Action.OpenUrl", "title": "Open dashboard", "url": sample.Link}},
			},
		}},
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

// TestSinkReadsBothShapes checks the payloads round-trip through the
// demo's sink, so what the sink prints is what a person would see.
func TestSinkReadsBothShapes(t *testing.T) {
	var out strings.Builder
	var outMu sync.Mutex
	sink := notifytest.NewSink(writerFunc(func(p []byte) (int, error) {
		outMu.Lock()
		defer outMu.Unlock()
		return out.Write(p)
	}))
	srv := httptest.NewServer(sink)
	defer srv.Close()
	slack, _ := notify.NewSlack(srv.URL + "/slack/T/B/x")
	teams, _ := notify.NewTeams(srv.URL + "/teams/workflow?sig=x")
	for _, s := range []notify.Sender{slack, teams} {
		if err := s.Send(context.Background(), sample); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
	}
	got := sink.Messages()
	if len(got) != 2 {
		t.Fatalf("sink has %d messages, want 2", len(got))
	}
	for i, ch := range []string{"slack", "teams"} {
		m := got[i]
		if m.Channel != ch || m.Subject != sample.Subject || m.Text != sample.Text || !cmp.Equal(m.Links, []string{sample.Link}) {
			t.Errorf("message %d = %+v, want channel %s with the sample's subject, text and link", i, m, ch)
		}
	}
	outMu.Lock()
	defer outMu.Unlock()
	if !strings.Contains(out.String(), "42 arrived since the last message.") {
		t.Errorf("sink printed %q, want the message text", out.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestWebhookAnswers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		wantErr    bool
		permanent  bool
		wantAfter  time.Duration
	}{
		{name: "200", status: 200},
		{name: "202", status: 202},
		{name: "204", status: 204},
		{name: "429 with Retry-After", status: 429, retryAfter: "7", wantErr: true, wantAfter: 7 * time.Second},
		{name: "429 without Retry-After", status: 429, wantErr: true},
		{name: "500", status: 500, wantErr: true},
		{name: "502", status: 502, wantErr: true},
		{name: "503 with Retry-After", status: 503, retryAfter: "2", wantErr: true, wantAfter: 2 * time.Second},
		{name: "400", status: 400, wantErr: true, permanent: true},
		{name: "403", status: 403, wantErr: true, permanent: true},
		{name: "404", status: 404, wantErr: true, permanent: true},
		{name: "410", status: 410, wantErr: true, permanent: true},
		{name: "302 redirect not followed", status: 302, wantErr: true, permanent: true},
	}
	for _, ch := range channels {
		for _, tc := range tests {
			t.Run(ch.name+"/"+tc.name, func(t *testing.T) {
				rec := &recorder{status: tc.status, retryAfter: tc.retryAfter}
				srv := httptest.NewServer(rec)
				defer srv.Close()
				s, err := ch.make(ch.newURL(srv.URL))
				if err != nil {
					t.Fatal(err)
				}
				err = s.Send(context.Background(), sample)
				if (err != nil) != tc.wantErr {
					t.Fatalf("Send = %v, want error %v", err, tc.wantErr)
				}
				if n := len(rec.requests()); n != 1 {
					t.Errorf("server saw %d requests, want exactly 1 (no retries, no redirects)", n)
				}
				if err == nil {
					return
				}
				if got := notify.IsPermanent(err); got != tc.permanent {
					t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tc.permanent)
				}
				var ne *notify.Error
				if !errors.As(err, &ne) || ne.Code != tc.status || ne.Channel != ch.name {
					t.Errorf("error %#v, want *notify.Error with channel %s and code %d", err, ch.name, tc.status)
				}
				d, ok := notify.RetryAfter(err)
				if d != tc.wantAfter || ok != (tc.wantAfter > 0) {
					t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tc.wantAfter)
				}
				assertNoSecret(t, err, ch.secret)
			})
		}
	}
}

// TestWebhookFailuresHideURL covers failures without an answer: a timeout
// and a refused connection are retryable, and neither error nor String
// shows the URL's token.
func TestWebhookFailuresHideURL(t *testing.T) {
	for _, ch := range channels {
		t.Run(ch.name+"/timeout", func(t *testing.T) {
			rec := &recorder{delay: 2 * time.Second}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			s, err := ch.make(ch.newURL(srv.URL), notify.WithTimeout(100*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = s.Send(context.Background(), sample)
			if err == nil || notify.IsPermanent(err) {
				t.Fatalf("Send = %v, want a retryable error", err)
			}
			if time.Since(start) > 1500*time.Millisecond {
				t.Errorf("Send took %v, want it cut at the 100ms timeout", time.Since(start))
			}
			if !strings.Contains(err.Error(), "timed out") {
				t.Errorf("error %q does not say it timed out", err)
			}
			assertNoSecret(t, err, ch.secret)
		})
		t.Run(ch.name+"/refused", func(t *testing.T) {
			srv := httptest.NewServer(http.NotFoundHandler())
			u := ch.newURL(srv.URL)
			srv.Close()
			s, err := ch.make(u)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), sample)
			if err == nil || notify.IsPermanent(err) {
				t.Fatalf("Send = %v, want a retryable error", err)
			}
			assertNoSecret(t, err, ch.secret)
			for _, form := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
				if strings.Contains(form, ch.secret) {
					t.Errorf("sender prints as %q, which holds the token", form)
				}
			}
		})
		t.Run(ch.name+"/huge error body", func(t *testing.T) {
			rec := &recorder{status: 400, bigBody: true}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			s, _ := ch.make(ch.newURL(srv.URL))
			err := s.Send(context.Background(), sample)
			if err == nil || len(err.Error()) > 600 {
				t.Fatalf("error is %d bytes, want a bounded error", len(fmt.Sprint(err)))
			}
			assertNoSecret(t, err, ch.secret)
		})
		t.Run(ch.name+"/cancelled", func(t *testing.T) {
			rec := &recorder{delay: 2 * time.Second}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			s, _ := ch.make(ch.newURL(srv.URL))
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err := s.Send(ctx, sample)
			if !errors.Is(err, context.DeadlineExceeded) || notify.IsPermanent(err) {
				t.Fatalf("Send = %v, want a retryable error matching context.DeadlineExceeded", err)
			}
			assertNoSecret(t, err, ch.secret)
		})
	}
}

func TestWebhookBadURL(t *testing.T) {
	for _, ch := range channels {
		for _, u := range []string{
			"hooks.slack.com/services/T/B/" + ch.secret,
			"ftp://hooks.slack.com/services/T/B/" + ch.secret,
			"https://user:" + ch.secret + "@hooks.slack.com/x",
			"https://%zz/" + ch.secret,
			"",
		} {
			_, err := ch.make(u)
			if err == nil {
				t.Errorf("%s: New(%q) accepted a bad URL", ch.name, u)
				continue
			}
			assertNoSecret(t, err, ch.secret)
		}
	}
}

func assertNoSecret(t *testing.T, err error, secret string) {
	t.Helper()
	for _, form := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		if strings.Contains(form, secret) {
			t.Errorf("error %q contains the secret", form)
		}
	}
}
