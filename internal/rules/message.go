package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"text/template"

	"github.com/prolific-receiver/receiver/internal/notify"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// The default message templates (docs/rules.md "Messages"). They name the
// study, say what happened and give the numbers.
const (
	defaultSubject = `{{.Study}}: {{.What}}`
	defaultText    = `{{.What}}{{if .StudyID}} in study {{.Study}}{{if ne .Study .StudyID}} ({{.StudyID}}){{end}}{{end}}.
{{- if and (gt .Count 1) (not .First)}}
{{.Count}} arrived since the last message.{{end}}
{{- if .AwaitingReview}}
{{.AwaitingReview}} submission(s) await review now.{{end}}
Rule: {{.Rule}}.`
)

// MessageData is what a message template is given.
type MessageData struct {
	Rule           string
	Study          string // the study's name when known, else its ID; "" when none
	StudyID        string
	StudyName      string
	StudyStatus    string
	What           string // what happened, in words, with its numbers
	Count          int    // events this message covers (digests)
	AwaitingReview int    // the study's submissions AWAITING REVIEW now
	Link           string // the study's dashboard page (RECEIVER_DASHBOARD_URL)
	Detail         Detail // what the trigger saw
	EventIDs       []string

	first func() bool // see First
}

// First reports whether no earlier action of this rule is about this study
// (or, without a study, has this key). It reads the audit only when a
// template asks (the default text does only for a digest of several events),
// once per message.
func (d MessageData) First() bool {
	if d.first == nil {
		return true
	}
	return d.first()
}

// message is r's message about a, rendered once in an ExecuteDue pass.
func (e *Engine) message(ctx context.Context, r *Rule, a store.Action) notify.Message {
	if m, ok := e.messages[a.ID]; ok {
		return m
	}
	m := e.compose(ctx, r, a)
	if e.messages != nil {
		e.messages[a.ID] = m
	}
	return m
}

// compose renders r's message about a.
func (e *Engine) compose(ctx context.Context, r *Rule, a store.Action) notify.Message {
	d := MessageData{Rule: r.Name, StudyID: a.StudyID, Study: a.StudyID, Count: a.Count, EventIDs: a.EventIDs}
	_ = json.Unmarshal([]byte(a.Detail), &d.Detail)
	if a.StudyID != "" && e.opts.Store != nil {
		if s, err := e.study(ctx, a.StudyID); err == nil {
			d.StudyName, d.StudyStatus = s.Name, s.Status
			if s.Name != "" {
				d.Study = s.Name
			}
			d.AwaitingReview = s.SubmissionCounts[prolific.SubmissionAwaitingReview]
		}
	}
	if d.Study == "" {
		d.Study = "receiver"
	}
	d.What = what(d.Detail, a.Count)
	if e.opts.Store != nil {
		d.first = sync.OnceValue(func() bool {
			prev, err := e.opts.Store.Actions(ctx, store.ActionFilter{Rule: r.Name, StudyID: a.StudyID, BeforeID: a.ID, Limit: 20})
			if err != nil {
				return true
			}
			for _, p := range prev {
				if p.Target == a.Target && (a.StudyID != "" || p.Key == a.Key) {
					return false
				}
			}
			return true
		})
	}
	if e.opts.DashboardURL != "" {
		base := strings.TrimSuffix(e.opts.DashboardURL, "/")
		d.Link = base + "/"
		if a.StudyID != "" {
			d.Link = base + "/studies/" + url.PathEscape(a.StudyID)
		}
	}
	return notify.Message{Subject: render(r.Action.Subject, d), Text: render(r.Action.Text, d), Link: d.Link}
}

// study reads a study for messages, once per pass over the due actions
// (ExecuteDue): a pass's messages about one study share the read.
func (e *Engine) study(ctx context.Context, id string) (*store.Study, error) {
	if s, ok := e.studies[id]; ok {
		return s, nil
	}
	s, err := e.opts.Store.Study(ctx, id)
	if err == nil && e.studies != nil {
		e.studies[id] = s
	}
	return s, err
}

func render(t *template.Template, d MessageData) string {
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return fmt.Sprintf("(template error: %v)", err)
	}
	return b.String()
}

// what says in words what a trigger saw.
func what(d Detail, count int) string {
	switch d.Trigger {
	case TriggerAwaitingReview:
		return fmt.Sprintf("%d submission(s) have been AWAITING REVIEW for longer than %s", d.Awaiting, d.OlderThan)
	case TriggerReturnShare:
		return fmt.Sprintf("%.0f%% of the last %d submissions were returned or timed out", d.Share*100, d.Last)
	case TriggerHealth:
		if d.Resource != "" {
			return d.SignalText + " (" + d.Resource + ")"
		}
		return d.SignalText
	}
	switch d.EventType {
	case prolific.EventSubmissionStatusChange:
		if count > 1 {
			return fmt.Sprintf("%d submissions now %s", count, d.Status)
		}
		return "a submission is now " + d.Status
	case prolific.EventStudyStatusChange:
		return "the study is now " + d.Status
	case prolific.EventStudyHighReturnRate:
		return "Prolific reports a high return rate"
	}
	if count > 1 {
		return fmt.Sprintf("%d %s events", count, d.EventType)
	}
	return d.EventType
}
