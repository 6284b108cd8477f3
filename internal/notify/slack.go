package notify

import (
	"context"
	"strings"
)

// maxSlackText keeps a message under Slack's 40,000-character text limit.
const maxSlackText = 35000

// Slack posts to a Slack incoming webhook
// (https://hooks.slack.com/services/T.../B.../secret).
type Slack struct{ w *webhook }

// NewSlack returns a sender for the incoming webhook at webhookURL. The URL
// is a secret and appears in no error or String form.
func NewSlack(webhookURL string, opts ...Option) (*Slack, error) {
	w, err := newWebhook(ChannelSlack, webhookURL, opts)
	if err != nil {
		return nil, err
	}
	return &Slack{w: w}, nil
}

// slackPayload is the incoming-webhook body: text in Slack's mrkdwn.
type slackPayload struct {
	Text        string `json:"text"`
	UnfurlLinks bool   `json:"unfurl_links"`
	UnfurlMedia bool   `json:"unfurl_media"`
}

// Send posts m as one message: the subject in bold, the text, and the link.
func (s *Slack) Send(ctx context.Context, m Message) error {
	return s.w.post(ctx, slackPayload{Text: SlackText(m)})
}

// SlackText renders m in Slack's mrkdwn, escaping &, < and > as Slack asks.
func SlackText(m Message) string {
	var b strings.Builder
	if sub := strings.TrimSpace(m.Subject); sub != "" {
		b.WriteString("*" + slackEscape(sub) + "*")
	}
	if text := strings.TrimRight(m.Text, "\n"); text != "" {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(slackEscape(text))
	}
	if link := linkURL(m.Link); link != "" {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		label := strings.NewReplacer("|", "/").Replace(slackEscape(m.linkText()))
		b.WriteString("<" + strings.NewReplacer("|", "%7C", ">", "%3E").Replace(link) + "|" + label + ">")
	}
	return truncateText(b.String(), maxSlackText)
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackEscape(s string) string { return slackEscaper.Replace(s) }

// String describes the sender without its URL.
func (s *Slack) String() string { return s.w.describe("Slack") }

// GoString is String, so %#v cannot print the URL either.
func (s *Slack) GoString() string { return s.String() }
