package outputs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Subject is a NATS subject template such as
// prolific.{event_type}.{study_id}.
type Subject struct {
	tmpl  string
	parts []subjectPart
}

// String returns the template as written.
func (s *Subject) String() string { return s.tmpl }

type subjectPart struct {
	literal string
	field   string // one of subjectFields, or "" for a literal
}

// subjectFields are the placeholders a subject template may use.
var subjectFields = map[string]bool{"event_type": true, "study_id": true, "resource_id": true, "status": true}

var placeholder = regexp.MustCompile(`\{([^{}]*)\}`)

// ParseSubject checks and compiles a template.
func ParseSubject(tmpl string) (*Subject, error) {
	if tmpl == "" {
		return nil, errors.New("required, e.g. prolific.{event_type}.{study_id}")
	}
	s := &Subject{tmpl: tmpl}
	last := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(tmpl, -1) {
		name := tmpl[m[2]:m[3]]
		if !subjectFields[name] {
			return nil, fmt.Errorf("unknown placeholder {%s}: use {event_type}, {study_id}, {resource_id} or {status}", name)
		}
		if m[0] > last {
			s.parts = append(s.parts, subjectPart{literal: tmpl[last:m[0]]})
		}
		s.parts = append(s.parts, subjectPart{field: name})
		last = m[1]
	}
	if last < len(tmpl) {
		s.parts = append(s.parts, subjectPart{literal: tmpl[last:]})
	}
	for _, p := range s.parts {
		if p.field == "" && strings.ContainsAny(p.literal, " \t\r\n*>{}") {
			return nil, fmt.Errorf("%q has a space, wildcard or brace outside a placeholder", tmpl)
		}
	}
	if strings.HasPrefix(tmpl, ".") || strings.HasSuffix(tmpl, ".") || strings.Contains(tmpl, "..") {
		return nil, fmt.Errorf("%q has an empty token", tmpl)
	}
	return s, nil
}

// Render fills the template for m. A value's dots are kept for event_type
// (its own tokens); in the other fields every character that NATS gives a
// meaning ('.', '*', '>', spaces) becomes '_', and an empty value is
// "unknown".
func (s *Subject) Render(m Message) string {
	var b strings.Builder
	for _, p := range s.parts {
		switch p.field {
		case "":
			b.WriteString(p.literal)
		case "event_type":
			b.WriteString(token(m.EventType, true))
		case "study_id":
			b.WriteString(token(m.StudyID, false))
		case "resource_id":
			b.WriteString(token(m.ResourceID, false))
		case "status":
			b.WriteString(token(m.Status, false))
		}
	}
	return b.String()
}

// Wildcard is a subject filter that captures every subject Render gives:
// the literal tokens before the first placeholder, then '>'.
func (s *Subject) Wildcard() string {
	prefix := ""
	for _, p := range s.parts {
		if p.field != "" {
			break
		}
		prefix += p.literal
	}
	if i := strings.LastIndex(prefix, "."); i >= 0 {
		return prefix[:i+1] + ">"
	}
	if len(s.parts) == 1 && s.parts[0].field == "" {
		return prefix // no placeholder
	}
	return ">"
}

func token(v string, keepDots bool) string {
	if v == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '.' && keepDots:
			return r
		case r == '.' || r == '*' || r == '>' || r == ' ' || r == '\t' || r == '\r' || r == '\n':
			return '_'
		}
		return r
	}, v)
}
