package notifytest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func post(t *testing.T, url, body string) (int, http.Header) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func TestSink(t *testing.T) {
	var out strings.Builder
	s := NewSink(&out)
	srv := httptest.NewServer(s)
	defer srv.Close()

	s.FailNext(http.StatusTooManyRequests, 1, "3")
	s.FailNext(http.StatusInternalServerError, 1, "")
	slack := `{"text":"*Wave 1 &amp; 2*\nline &lt;one&gt;\n<https://r.example/d|Open dashboard>"}`
	if st, h := post(t, srv.URL+"/slack/x", slack); st != 429 || h.Get("Retry-After") != "3" {
		t.Errorf("first post: %d Retry-After %q, want 429 and 3", st, h.Get("Retry-After"))
	}
	if st, _ := post(t, srv.URL+"/slack/x", slack); st != 500 {
		t.Errorf("second post: %d, want 500", st)
	}
	if st, _ := post(t, srv.URL+"/slack/x", slack); st != 200 {
		t.Errorf("third post: %d, want 200", st)
	}
	if st, _ := post(t, srv.URL+"/slack/x", `{"blocks":[]}`); st != 400 {
		t.Errorf("post without text: %d, want 400", st)
	}
	if st, _ := post(t, srv.URL+"/teams/x", `{"type":"message","attachments":[{"contentType":"text/plain"}]}`); st != 400 {
		t.Errorf("teams post without a card: %d, want 400", st)
	}
	got := s.Wait(1, time.Second)
	if len(got) != 1 || s.Requests() != 5 {
		t.Fatalf("messages %d, requests %d; want 1 and 5", len(got), s.Requests())
	}
	want := Received{Channel: "slack", Path: "/slack/x", Subject: "Wave 1 & 2", Text: "line <one>", Links: []string{"https://r.example/d"}, Raw: slack}
	if diff := cmp.Diff(want, got[0], cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "At" }, cmp.Ignore())); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	if !strings.Contains(out.String(), "  Wave 1 & 2\n  line <one>\n  -> https://r.example/d\n") {
		t.Errorf("printed %q", out.String())
	}
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var listed []Received
	if err := json.NewDecoder(resp.Body).Decode(&listed); err != nil || len(listed) != 1 || listed[0].Text != "line <one>" {
		t.Errorf("GET = %+v, %v; want the one message", listed, err)
	}
}
