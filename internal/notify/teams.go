package notify

import (
	"context"
	"strings"
)

// Teams card limits: a card must stay under about 28 KB.
const (
	maxTeamsText  = 20000
	maxTeamsLines = 60
)

// Teams posts to a Microsoft Teams workflow webhook (a Power Automate flow
// started by "When a Teams webhook request is received", whose URL carries
// its signature in the sig= query parameter). Workflows accept Adaptive
// Cards only, so each message is one card.
type Teams struct{ w *webhook }

// NewTeams returns a sender for the workflow webhook at webhookURL. The URL
// is a secret and appears in no error or String form.
func NewTeams(webhookURL string, opts ...Option) (*Teams, error) {
	w, err := newWebhook(ChannelTeams, webhookURL, opts)
	if err != nil {
		return nil, err
	}
	return &Teams{w: w}, nil
}

// Send posts m as an Adaptive Card: the subject as a heading, one text
// block per line of the text, and the link as a button.
func (t *Teams) Send(ctx context.Context, m Message) error {
	return t.w.post(ctx, TeamsPayload(m))
}

// TeamsPayload is the JSON body Send posts for m: a "message" whose one
// attachment is an Adaptive Card 1.4.
func TeamsPayload(m Message) map[string]any {
	body := []map[string]any{}
	if sub := strings.TrimSpace(m.Subject); sub != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": sub, "weight": "Bolder", "size": "Medium", "wrap": true})
	}
	// One block per line: TextBlock markdown drops single line breaks.
	lines := strings.Split(strings.TrimRight(truncateText(m.Text, maxTeamsText), "\n"), "\n")
	if len(lines) > maxTeamsLines {
		lines = append(lines[:maxTeamsLines-1], "…(truncated)")
	}
	for _, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		body = append(body, map[string]any{"type": "TextBlock", "text": line, "wrap": true, "spacing": "Small"})
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body":    body,
	}
	if link := linkURL(m.Link); link != "" {
		card["actions"] = []map[string]any{{"type": "Action.OpenUrl", "title": m.linkText(), "url": link}}
	}
	return map[string]any{
		"type": "message",
		"attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	}
}

// String describes the sender without its URL.
func (t *Teams) String() string { return t.w.describe("Teams") }

// GoString is String, so %#v cannot print the URL either.
func (t *Teams) GoString() string { return t.String() }
