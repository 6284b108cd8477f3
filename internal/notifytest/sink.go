package notifytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxSinkBody bounds one accepted post.
const maxSinkBody = 1 << 20

// Received is one message a Sink or SMTPServer accepted.
type Received struct {
	// Channel is "slack", "teams" or "smtp".
	Channel string `json:"channel"`
	// Path is the request path the post arrived on (webhooks only).
	Path string `json:"path,omitempty"`
	// Subject is the e-mail subject, or the bold first line of a Slack
	// message, or the first text block of a Teams card.
	Subject string `json:"subject,omitempty"`
	// Text is the rest: the message as a person would read it.
	Text string `json:"text"`
	// Links lists the URLs the message points to (Slack <url|label>,
	// Teams Action.OpenUrl).
	Links []string `json:"links,omitempty"`
	// Raw is the body as received (JSON for webhooks, the whole e-mail for SMTP).
	Raw string `json:"raw"`
	// From, To and User are the SMTP envelope and the authenticated user.
	From string   `json:"from,omitempty"`
	To   []string `json:"to,omitempty"`
	User string   `json:"user,omitempty"`
	// TLS says whether the SMTP session was encrypted when the message came.
	TLS bool `json:"tls,omitempty"`
	// At is when it arrived.
	At time.Time `json:"at"`
}

// Sink accepts Slack- and Teams-shaped webhook posts on any path. A post
// whose path contains "/teams" or whose body is a Teams "message" is read
// as Teams; anything else with a "text" field as Slack. GET on any path
// answers the recorded messages as JSON. Safe for concurrent use.
type Sink struct {
	mu       sync.Mutex
	msgs     []Received
	fail     []failure
	out      io.Writer
	notify   chan struct{}
	requests int
}

type failure struct {
	status     int
	retryAfter string
	n          int
}

// NewSink returns a sink that prints each message it accepts to out (nil:
// prints nothing).
func NewSink(out io.Writer) *Sink {
	return &Sink{out: out, notify: make(chan struct{})}
}

// FailNext makes the next n posts answer status (with Retry-After when
// retryAfter is not empty) without recording them.
func (s *Sink) FailNext(status, n int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, failure{status: status, retryAfter: retryAfter, n: n})
}

// Messages returns a copy of what was accepted, oldest first.
func (s *Sink) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Requests counts every post, failed ones included.
func (s *Sink) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Wait blocks until at least n messages were accepted or timeout passes,
// and returns what was accepted.
func (s *Sink) Wait(n int, timeout time.Duration) []Received {
	return waitFor(n, timeout, s.state, s.Messages)
}

// state is how many messages were accepted, and the channel closed at the next.
func (s *Sink) state() (int, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs), s.notify
}

// ServeHTTP implements http.Handler.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Messages())
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSinkBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	s.mu.Lock()
	s.requests++
	if len(s.fail) > 0 {
		f := s.fail[0]
		if s.fail[0].n--; s.fail[0].n <= 0 {
			s.fail = s.fail[1:]
		}
		s.mu.Unlock()
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		http.Error(w, "injected failure "+strconv.Itoa(f.status), f.status)
		return
	}
	s.mu.Unlock()

	msg, ok := parsePost(r.URL.Path, body)
	if !ok {
		// Slack answers a body it cannot read with 400 invalid_payload.
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.record(msg)
	if msg.Channel == "teams" {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

func (s *Sink) record(m Received) {
	m.At = time.Now().UTC()
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	close(s.notify)
	s.notify = make(chan struct{})
	out := s.out
	if out != nil {
		fmt.Fprint(out, Format(m))
	}
	s.mu.Unlock()
}

// Format renders m for a terminal: a header line, then the message indented.
func Format(m Received) string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s message", m.Channel)
	if len(m.To) > 0 {
		fmt.Fprintf(&b, " to %s", strings.Join(m.To, ", "))
	}
	fmt.Fprintf(&b, " at %s\n", m.At.Format(time.RFC3339))
	if m.Subject != "" {
		fmt.Fprintf(&b, "  %s\n", m.Subject)
	}
	for _, line := range strings.Split(strings.TrimRight(m.Text, "\n"), "\n") {
		if line != "" {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	for _, l := range m.Links {
		fmt.Fprintf(&b, "  -> %s\n", l)
	}
	return b.String()
}

// parsePost reads a Slack or Teams body.
func parsePost(path string, body []byte) (Received, bool) {
	var probe struct {
		Type        string          `json:"type"`
		Text        *string         `json:"text"`
		Attachments json.RawMessage `json:"attachments"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return Received{}, false
	}
	if probe.Type == "message" || strings.Contains(path, "/teams") {
		return parseTeams(path, body)
	}
	if probe.Text == nil || *probe.Text == "" {
		return Received{}, false
	}
	m := Received{Channel: "slack", Path: path, Raw: string(body)}
	// A line that is only a link is the message's button: kept in Links,
	// not in Text.
	var lines []string
	for _, line := range strings.Split(*probe.Text, "\n") {
		plain, links := slackPlain(line)
		m.Links = append(m.Links, links...)
		if len(links) == 1 && strings.HasPrefix(line, "<") && strings.HasSuffix(line, ">") && strings.Count(line, "<") == 1 {
			continue
		}
		lines = append(lines, plain)
	}
	m.Subject, m.Text = splitSubject(strings.Join(lines, "\n"))
	return m, true
}

// splitSubject takes a first line in Slack bold (*...*) as the subject.
func splitSubject(text string) (string, string) {
	first, rest, _ := strings.Cut(text, "\n")
	if len(first) > 2 && strings.HasPrefix(first, "*") && strings.HasSuffix(first, "*") {
		return first[1 : len(first)-1], rest
	}
	return "", text
}

// slackPlain turns Slack mrkdwn links <url|label> into "label" and
// collects the URLs, then undoes Slack's escaping.
func slackPlain(s string) (string, []string) {
	var links []string
	var b strings.Builder
	for {
		i := strings.Index(s, "<")
		if i < 0 {
			b.WriteString(s)
			break
		}
		j := strings.Index(s[i:], ">")
		if j < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		inner := s[i+1 : i+j]
		u, label, hasLabel := strings.Cut(inner, "|")
		links = append(links, u)
		if hasLabel {
			b.WriteString(label)
		} else {
			b.WriteString(u)
		}
		s = s[i+j+1:]
	}
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(b.String()), links
}

// parseTeams reads a workflow-webhook body: a "message" with Adaptive Card
// attachments whose TextBlocks make the text.
func parseTeams(path string, body []byte) (Received, bool) {
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type string `json:"type"`
				Body []struct {
					Type   string `json:"type"`
					Text   string `json:"text"`
					Weight string `json:"weight"`
				} `json:"body"`
				Actions []struct {
					Type string `json:"type"`
					URL  string `json:"url"`
				} `json:"actions"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || msg.Type != "message" || len(msg.Attachments) == 0 {
		return Received{}, false
	}
	m := Received{Channel: "teams", Path: path, Raw: string(body)}
	var lines []string
	for _, a := range msg.Attachments {
		if a.ContentType != "application/vnd.microsoft.card.adaptive" || a.Content.Type != "AdaptiveCard" {
			return Received{}, false
		}
		for _, blk := range a.Content.Body {
			if blk.Type != "TextBlock" {
				continue
			}
			if m.Subject == "" && len(lines) == 0 && blk.Weight == "Bolder" {
				m.Subject = blk.Text
				continue
			}
			lines = append(lines, blk.Text)
		}
		for _, act := range a.Content.Actions {
			if act.Type == "Action.OpenUrl" {
				m.Links = append(m.Links, act.URL)
			}
		}
	}
	m.Text = strings.Join(lines, "\n")
	return m, true
}

// waitFor blocks until state reports n or more messages accepted, or
// timeout passes, and returns messages().
func waitFor(n int, timeout time.Duration, state func() (int, <-chan struct{}), messages func() []Received) []Received {
	deadline := time.After(timeout)
	for {
		got, ch := state()
		if got >= n {
			return messages()
		}
		select {
		case <-ch:
		case <-deadline:
			return messages()
		}
	}
}
