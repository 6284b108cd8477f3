package rules

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/prolific-receiver/receiver/internal/capool"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/yamlconf"
)

// Trigger kinds (docs/rules.md "Triggers").
const (
	TriggerEvent          = "event"           // an event type, with optional statuses, studies, sources
	TriggerStudyStatus    = "study_status"    // a study reaching a status
	TriggerAwaitingReview = "awaiting_review" // N+ submissions AWAITING REVIEW longer than T
	TriggerReturnShare    = "return_share"    // returned + timed-out share of the last N submissions above X
	TriggerHealth         = "health"          // the receiver's own health signals
)

// Action types (docs/rules.md "Actions").
const (
	ActionNotify   = "notify"
	ActionPause    = "pause"
	ActionStop     = "stop"
	ActionGroupAdd = "group_add"
	ActionApprove  = "approve"
	ActionForward  = "forward"
)

// Health signals (TriggerHealth).
const (
	SignalSubscriptionDisabled = "subscription_disabled"
	SignalDeliveriesFailing    = "deliveries_failing"
	SignalReconcileCorrections = "reconcile_corrections"
)

// Defaults applied to settings a rules file leaves out.
const (
	DefaultWindow      = 24 * time.Hour   // pause/stop: once per study per window
	DefaultCheckWindow = time.Hour        // periodic triggers: once per resource per window
	DefaultDigestDelay = 20 * time.Second // a digest's first message gathers a burst this long
	MinDigest          = time.Minute
)

// File is a rules file (RECEIVER_RULES_FILE) as written.
type File struct {
	Notifiers []NotifierConfig `yaml:"notifiers"`
	Rules     []RuleConfig     `yaml:"rules"`
}

// NotifierConfig is one named channel messages go to.
type NotifierConfig struct {
	Name string      `yaml:"name"`
	Type string      `yaml:"type"` // slack, teams, smtp
	URL  string      `yaml:"url"`  // slack, teams
	SMTP *SMTPConfig `yaml:"smtp"`
}

// SMTPConfig is an e-mail channel.
type SMTPConfig struct {
	Host     string   `yaml:"host"`
	Port     int      `yaml:"port"`
	Security string   `yaml:"security"` // starttls (default), tls, none
	Username string   `yaml:"username"`
	Password string   `yaml:"password"`
	From     string   `yaml:"from"`
	To       []string `yaml:"to"`
	CAFile   string   `yaml:"ca_file"` // PEM roots for the server's certificate (a private CA)
}

// RuleConfig is one rule as written.
type RuleConfig struct {
	Name    string        `yaml:"name"`
	DryRun  bool          `yaml:"dry_run"`
	Trigger TriggerConfig `yaml:"trigger"`
	Action  ActionConfig  `yaml:"action"`
}

// TriggerConfig is a rule's trigger as written: exactly one of event_type,
// study_status, awaiting_review, return_share, health.
type TriggerConfig struct {
	EventType      string          `yaml:"event_type"`
	Statuses       []string        `yaml:"statuses"`
	StudyIDs       []string        `yaml:"study_ids"`
	Sources        []string        `yaml:"sources"`
	StudyStatus    []string        `yaml:"study_status"`
	AwaitingReview *AwaitingConfig `yaml:"awaiting_review"`
	ReturnShare    *ReturnConfig   `yaml:"return_share"`
	Health         string          `yaml:"health"`
}

// AwaitingConfig is "count or more submissions AWAITING REVIEW for longer than older_than".
type AwaitingConfig struct {
	Count     int    `yaml:"count"`
	OlderThan string `yaml:"older_than"`
}

// ReturnConfig is "returned + timed-out share of the last submissions above".
type ReturnConfig struct {
	Last  int     `yaml:"last"`
	Above float64 `yaml:"above"`
}

// ActionConfig is a rule's action as written.
type ActionConfig struct {
	Type     string `yaml:"type"`
	Notifier string `yaml:"notifier"` // notify
	Subject  string `yaml:"subject"`  // notify: text/template
	Text     string `yaml:"text"`     // notify: text/template
	Digest   string `yaml:"digest"`   // notify: at most one message per study per this window
	Delay    string `yaml:"delay"`    // notify with digest: the first message's gathering time
	Window   string `yaml:"window"`   // pause, stop, periodic triggers: once per resource per window
	GroupID  string `yaml:"group_id"` // group_add
	MinAge   string `yaml:"min_age"`  // approve
	Output   string `yaml:"output"`   // forward
}

// Rule is one validated rule.
type Rule struct {
	Name    string
	Line    int
	DryRun  bool
	Trigger Trigger
	Action  Action
}

// Trigger is a validated trigger.
type Trigger struct {
	Kind       string
	EventTypes []string // TriggerEvent: one type; TriggerStudyStatus: study.status.change
	Statuses   []string
	StudyIDs   []string
	Sources    []string
	Count      int           // awaiting_review
	OlderThan  time.Duration // awaiting_review
	Last       int           // return_share
	Above      float64       // return_share
	Signal     string        // health
}

// Action is a validated action.
type Action struct {
	Type     string
	Notifier string
	Subject  *template.Template
	Text     *template.Template
	Digest   time.Duration
	Delay    time.Duration
	Window   time.Duration
	GroupID  string
	MinAge   time.Duration
	Output   string
}

// Notifier is a validated channel.
type Notifier struct {
	Name string
	Type string
	URL  string
	SMTP SMTPConfig
	// RootCAs holds the roots SMTP.CAFile names, which replace the
	// system's for the mail server's certificate; nil without a ca_file.
	RootCAs *x509.CertPool
}

// Config is a validated rules file.
type Config struct {
	Notifiers []Notifier
	Rules     []Rule
}

// Load reads, expands and validates the rules file at path. outputNames
// are the configured outputs (forward names one). Every error names the
// line; none holds a secret's value.
func Load(path string, getenv func(string) string, outputNames []string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules file: %w", err)
	}
	c, err := Parse(data, getenv, outputNames)
	if err != nil {
		return nil, fmt.Errorf("rules file %s: %w", path, err)
	}
	return c, nil
}

// Parse validates a rules file's contents (see Load).
func Parse(data []byte, getenv func(string) string, outputNames []string) (*Config, error) {
	var f File
	file, err := yamlconf.Decode(data, &f)
	if err != nil {
		return nil, err
	}
	v := &validator{yamlconf.Validator{File: file, Getenv: getenv, DurationExample: "10m or 24h"}}
	c := &Config{}
	names := map[string]bool{}
	for i, nc := range f.Notifiers {
		n := v.notifier(fmt.Sprintf("$.notifiers[%d]", i), nc)
		if names[n.Name] {
			v.Fail(fmt.Sprintf("$.notifiers[%d].name", i), "name: %q is used by an earlier notifier", n.Name)
		}
		names[n.Name] = true
		c.Notifiers = append(c.Notifiers, n)
	}
	if len(f.Rules) == 0 {
		v.Fail("$.rules", "rules: the file lists no rule")
	}
	seen := map[string]bool{}
	for i, rc := range f.Rules {
		at := fmt.Sprintf("$.rules[%d]", i)
		r := v.rule(at, rc, names, outputNames)
		if seen[r.Name] {
			v.Fail(at+".name", "name: %q is used by an earlier rule", r.Name)
		}
		seen[r.Name] = true
		c.Rules = append(c.Rules, r)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// validator checks a rules file's fields.
type validator struct{ yamlconf.Validator }

func (v *validator) notifier(at string, nc NotifierConfig) Notifier {
	n := Notifier{Name: nc.Name, Type: nc.Type}
	v.Name(at+".name", nc.Name)
	switch nc.Type {
	case "slack", "teams":
		before := len(v.Errs)
		n.URL = v.Expand(at+".url", "url", nc.URL)
		if u, err := url.Parse(n.URL); len(v.Errs) == before && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
			v.Fail(at+".url", "url: must be the channel's https:// webhook URL")
		}
		if nc.SMTP != nil {
			v.Fail(at+".smtp", "smtp: a %s notifier takes url, not smtp", nc.Type)
		}
	case "smtp":
		if nc.SMTP == nil {
			v.Fail(at, "smtp: an smtp notifier needs an smtp block with host, from and to")
			return n
		}
		s := *nc.SMTP
		s.Host = v.Expand(at+".smtp.host", "smtp.host", s.Host)
		s.Username = v.Expand(at+".smtp.username", "smtp.username", s.Username)
		s.Password = v.Expand(at+".smtp.password", "smtp.password", s.Password)
		s.From = v.Expand(at+".smtp.from", "smtp.from", s.From)
		for j := range s.To {
			s.To[j] = v.Expand(fmt.Sprintf("%s.smtp.to[%d]", at, j), "smtp.to", s.To[j])
		}
		if s.Host == "" {
			v.Fail(at+".smtp.host", "smtp.host: required")
		}
		if s.From == "" || len(s.To) == 0 {
			v.Fail(at+".smtp", "smtp: from and to are required")
		}
		switch s.Security {
		case "", "starttls", "tls", "none":
		default:
			v.Fail(at+".smtp.security", "smtp.security: %q must be starttls, tls or none", s.Security)
		}
		n.RootCAs = v.caFile(at+".smtp.ca_file", &s)
		n.SMTP = s
	default:
		v.Fail(at+".type", "type: %q must be slack, teams or smtp", nc.Type)
	}
	return n
}

// caFile expands an SMTP notifier's ca_file and reads the roots it names
// (nil without one), failing at its line when the file cannot be read or
// holds no certificate, or when security none would never use it.
func (v *validator) caFile(at string, s *SMTPConfig) *x509.CertPool {
	before := len(v.Errs)
	s.CAFile = v.Expand(at, "smtp.ca_file", s.CAFile)
	if s.CAFile == "" || len(v.Errs) != before {
		return nil
	}
	if s.Security == "none" {
		v.Fail(at, "smtp.ca_file: security none never uses TLS: remove ca_file or use starttls or tls")
		return nil
	}
	pool, err := capool.Load(s.CAFile)
	if err != nil {
		v.Fail(at, "smtp.ca_file: %v", err)
	}
	return pool
}

func (v *validator) rule(at string, rc RuleConfig, notifiers map[string]bool, outputNames []string) Rule {
	r := Rule{Name: rc.Name, DryRun: rc.DryRun, Line: v.Line(at + ".name")}
	v.Name(at+".name", rc.Name)
	r.Trigger = v.trigger(at+".trigger", rc.Trigger)
	r.Action = v.action(at+".action", rc.Action, r.Trigger, notifiers, outputNames)
	return r
}

func (v *validator) trigger(at string, tc TriggerConfig) Trigger {
	t := Trigger{Statuses: tc.Statuses, StudyIDs: tc.StudyIDs, Sources: tc.Sources}
	var kinds []string
	if tc.EventType != "" {
		kinds = append(kinds, "event_type")
		t.Kind, t.EventTypes = TriggerEvent, []string{tc.EventType}
		if tc.EventType == "*" {
			t.EventTypes = nil
		}
	}
	if len(tc.StudyStatus) > 0 {
		kinds = append(kinds, "study_status")
		t.Kind, t.EventTypes, t.Statuses = TriggerStudyStatus, []string{prolific.EventStudyStatusChange}, tc.StudyStatus
		if len(tc.Statuses) > 0 {
			v.Fail(at+".statuses", "statuses: study_status already names the statuses")
		}
	}
	if tc.AwaitingReview != nil {
		kinds = append(kinds, "awaiting_review")
		t.Kind = TriggerAwaitingReview
		t.Count = tc.AwaitingReview.Count
		if t.Count < 1 {
			v.Fail(at+".awaiting_review.count", "awaiting_review.count: must be 1 or more")
		}
		t.OlderThan = v.Duration(at+".awaiting_review.older_than", "awaiting_review.older_than", tc.AwaitingReview.OlderThan, 0)
		if t.OlderThan == 0 && tc.AwaitingReview.OlderThan == "" {
			v.Fail(at+".awaiting_review", "awaiting_review.older_than: required, e.g. 24h")
		}
	}
	if tc.ReturnShare != nil {
		kinds = append(kinds, "return_share")
		t.Kind, t.Last, t.Above = TriggerReturnShare, tc.ReturnShare.Last, tc.ReturnShare.Above
		if t.Last < 1 || t.Last > 1000 {
			v.Fail(at+".return_share.last", "return_share.last: must be 1 to 1000 submissions")
		}
		if t.Above <= 0 || t.Above >= 1 {
			v.Fail(at+".return_share", "return_share.above: must be a share between 0 and 1, e.g. 0.3")
		}
	}
	if tc.Health != "" {
		kinds = append(kinds, "health")
		t.Kind, t.Signal = TriggerHealth, tc.Health
		switch tc.Health {
		case SignalSubscriptionDisabled, SignalDeliveriesFailing:
		case SignalReconcileCorrections:
			t.Sources = []string{"reconcile"}
		default:
			v.Fail(at+".health", "health: %q must be %s, %s or %s", tc.Health,
				SignalSubscriptionDisabled, SignalDeliveriesFailing, SignalReconcileCorrections)
		}
	}
	switch len(kinds) {
	case 0:
		v.Fail(at, "trigger: give one of event_type, study_status, awaiting_review, return_share or health")
	case 1:
	default:
		v.Fail(at, "trigger: give only one of %s", strings.Join(kinds, ", "))
	}
	if t.Kind != TriggerEvent && t.Kind != TriggerStudyStatus && len(tc.Statuses) > 0 {
		v.Fail(at+".statuses", "statuses: only an event_type trigger takes statuses")
	}
	for j, s := range tc.Sources {
		if s != "webhook" && s != "api" && s != "reconcile" {
			v.Fail(fmt.Sprintf("%s.sources[%d]", at, j), "sources: %q must be webhook, api or reconcile", s)
		}
	}
	for j, id := range tc.StudyIDs {
		if strings.TrimSpace(id) == "" || id == "*" {
			v.Fail(fmt.Sprintf("%s.study_ids[%d]", at, j), "study_ids: entry %d must be a study ID", j)
		}
	}
	return t
}
