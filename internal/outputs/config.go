package outputs

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/yamlconf"
)

// Defaults applied to settings a config file leaves out.
const (
	DefaultMaxAge      = 72 * time.Hour
	DefaultHTTPTimeout = 10 * time.Second
	DefaultNATSTimeout = 5 * time.Second
)

// File is an outputs file (RECEIVER_OUTPUTS_FILE) as written, before
// validation (docs/outputs.md).
type File struct {
	Outputs []OutputConfig `yaml:"outputs"`
}

// OutputConfig is one output as written in the file.
type OutputConfig struct {
	Name    string       `yaml:"name"`
	Type    string       `yaml:"type"`  // http or nats
	Start   string       `yaml:"start"` // beginning or now (default)
	Ordered *bool        `yaml:"ordered"`
	MaxAge  string       `yaml:"max_age"`
	Filter  FilterConfig `yaml:"filter"`
	HTTP    *HTTPConfig  `yaml:"http"`
	NATS    *NATSConfig  `yaml:"nats"`
}

// FilterConfig selects the events an output receives.
type FilterConfig struct {
	EventTypes []string `yaml:"event_types"`
	Statuses   []string `yaml:"statuses"`
	StudyIDs   []string `yaml:"study_ids"`
}

// HTTPConfig is an HTTP destination.
type HTTPConfig struct {
	URL     string `yaml:"url"`
	Secret  string `yaml:"secret"` // whsec_<base64>
	Timeout string `yaml:"timeout"`
}

// NATSConfig is a NATS JetStream destination.
type NATSConfig struct {
	URL     string   `yaml:"url"`
	Subject string   `yaml:"subject"` // template, e.g. prolific.{event_type}.{study_id}
	Stream  string   `yaml:"stream"`  // created, capturing Subjects, when missing; "" to leave streams alone
	Streams []string `yaml:"stream_subjects"`
	Timeout string   `yaml:"timeout"`
}

// Output is one validated output, ready to run.
type Output struct {
	Name          string
	Type          string
	FromBeginning bool
	Ordered       bool
	MaxAge        time.Duration
	Filter        store.OutputFilter
	HTTP          HTTPSettings
	NATS          NATSSettings
}

// HTTPSettings are a validated HTTP destination's.
type HTTPSettings struct {
	URL     string
	Key     []byte // the signing key: the secret's base64 after whsec_, decoded
	Timeout time.Duration
}

// NATSSettings are a validated NATS destination's.
type NATSSettings struct {
	URL            string
	Subject        *Subject
	Stream         string
	StreamSubjects []string
	Timeout        time.Duration
}

// StoreOutputs returns what the store needs of outs.
func StoreOutputs(outs []Output) []store.Output {
	res := make([]store.Output, len(outs))
	for i, o := range outs {
		res[i] = store.Output{Name: o.Name, Filter: o.Filter, FromBeginning: o.FromBeginning}
	}
	return res
}

// Load reads, expands and validates the outputs file at path. Every error
// names the file, line and field; none holds a secret's value.
func Load(path string, getenv func(string) string) ([]Output, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("outputs file: %w", err)
	}
	outs, err := Parse(data, getenv)
	if err != nil {
		return nil, fmt.Errorf("outputs file %s: %w", path, err)
	}
	return outs, nil
}

// Parse validates an outputs file's contents. getenv looks up the ${VAR}
// the file names (and VAR_FILE; see Expand).
func Parse(data []byte, getenv func(string) string) ([]Output, error) {
	var f File
	file, err := yamlconf.Decode(data, &f)
	if err != nil {
		return nil, err
	}
	v := &validator{yamlconf.Validator{File: file, Getenv: getenv, DurationExample: "10s or 72h"}}
	if len(f.Outputs) == 0 {
		v.Fail("$.outputs", "outputs: the file lists no output")
	}
	seen := map[string]bool{}
	var outs []Output
	for i, oc := range f.Outputs {
		o := v.output(fmt.Sprintf("$.outputs[%d]", i), oc)
		if o.Name != "" && seen[o.Name] {
			v.Fail(fmt.Sprintf("$.outputs[%d].name", i), "name: %q is used by an earlier output", o.Name)
		}
		seen[o.Name] = true
		outs = append(outs, o)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return outs, nil
}

// validator checks an outputs file's fields.
type validator struct{ yamlconf.Validator }

func (v *validator) output(at string, oc OutputConfig) Output {
	o := Output{Name: oc.Name, Type: oc.Type, Ordered: oc.Ordered == nil || *oc.Ordered}
	v.Name(at+".name", oc.Name)
	switch oc.Start {
	case "", "now":
	case "beginning":
		o.FromBeginning = true
	default:
		v.Fail(at+".start", "start: %q must be beginning or now", oc.Start)
	}
	o.MaxAge = v.Duration(at+".max_age", "max_age", oc.MaxAge, DefaultMaxAge)
	o.Filter = store.OutputFilter{EventTypes: oc.Filter.EventTypes, Statuses: oc.Filter.Statuses, StudyIDs: oc.Filter.StudyIDs}
	if len(oc.Filter.EventTypes) == 0 {
		v.Fail(at+".filter.event_types", `filter.event_types: list the event types to forward (e.g. [study.status.change, submission.status.change]), or ["*"] for every type`)
	}
	if slices.Contains(oc.Filter.EventTypes, "*") {
		o.Filter.EventTypes = nil // every type, those Prolific adds later included
	}
	for field, list := range map[string][]string{"event_types": oc.Filter.EventTypes, "statuses": oc.Filter.Statuses, "study_ids": oc.Filter.StudyIDs} {
		for j, s := range list {
			if strings.TrimSpace(s) == "" {
				v.Fail(fmt.Sprintf("%s.filter.%s[%d]", at, field, j), "filter.%s: entry %d is empty", field, j)
			}
		}
	}
	switch oc.Type {
	case "http":
		if oc.NATS != nil {
			v.Fail(at+".nats", "nats: an http output takes an http block, not nats")
		}
		o.HTTP = v.http(at+".http", oc.HTTP)
	case "nats":
		if oc.HTTP != nil {
			v.Fail(at+".http", "http: a nats output takes a nats block, not http")
		}
		o.NATS = v.nats(at+".nats", oc.NATS)
	default:
		v.Fail(at+".type", "type: %q must be http or nats", oc.Type)
	}
	return o
}

func (v *validator) http(at string, hc *HTTPConfig) HTTPSettings {
	if hc == nil {
		v.Fail(at, "http: an http output needs an http block with url and secret")
		return HTTPSettings{}
	}
	s := HTTPSettings{Timeout: v.Duration(at+".timeout", "http.timeout", hc.Timeout, DefaultHTTPTimeout)}
	s.URL = v.Expand(at+".url", "http.url", hc.URL)
	if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.Fail(at+".url", "http.url: must be an http:// or https:// URL")
	}
	secret := v.Expand(at+".secret", "http.secret", hc.Secret)
	key, err := DecodeSecret(secret)
	if err != nil {
		v.Fail(at+".secret", "http.secret: %v", err)
	}
	s.Key = key
	return s
}

func (v *validator) nats(at string, nc *NATSConfig) NATSSettings {
	if nc == nil {
		v.Fail(at, "nats: a nats output needs a nats block with url and subject")
		return NATSSettings{}
	}
	s := NATSSettings{Timeout: v.Duration(at+".timeout", "nats.timeout", nc.Timeout, DefaultNATSTimeout)}
	s.URL = v.Expand(at+".url", "nats.url", nc.URL)
	if s.URL == "" {
		v.Fail(at+".url", "nats.url: required, e.g. nats://127.0.0.1:4222")
	}
	subj, err := ParseSubject(v.Expand(at+".subject", "nats.subject", nc.Subject))
	if err != nil {
		v.Fail(at+".subject", "nats.subject: %v", err)
	}
	s.Subject = subj
	s.Stream = v.Expand(at+".stream", "nats.stream", nc.Stream)
	s.StreamSubjects = nc.Streams
	if s.Stream != "" && len(s.StreamSubjects) == 0 && subj != nil {
		s.StreamSubjects = []string{subj.Wildcard()}
	}
	return s
}
