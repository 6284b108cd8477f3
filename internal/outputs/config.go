package outputs

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/prolific-receiver/receiver/internal/store"
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
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, errors.New(yaml.FormatError(err, false, false))
	}
	var f File
	if err := yaml.UnmarshalWithOptions(data, &f, yaml.DisallowUnknownField()); err != nil {
		return nil, errors.New(yaml.FormatError(err, false, false))
	}
	v := &validator{file: file, getenv: getenv}
	if len(f.Outputs) == 0 {
		v.fail("$.outputs", "outputs: the file lists no output")
	}
	seen := map[string]bool{}
	var outs []Output
	for i, oc := range f.Outputs {
		o := v.output(fmt.Sprintf("$.outputs[%d]", i), oc)
		if o.Name != "" && seen[o.Name] {
			v.fail(fmt.Sprintf("$.outputs[%d].name", i), "name: %q is used by an earlier output", o.Name)
		}
		seen[o.Name] = true
		outs = append(outs, o)
	}
	if err := errors.Join(v.errs...); err != nil {
		return nil, err
	}
	return outs, nil
}

// validator collects errors, each placed at its field's line.
type validator struct {
	file   *ast.File
	getenv func(string) string
	errs   []error
}

// fail records an error about the field at path (a YAML path such as
// $.outputs[0].http.url), prefixed with the line of the nearest field that
// is written in the file.
func (v *validator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("line %d: %s", v.line(path), fmt.Sprintf(format, args...)))
}

func (v *validator) line(path string) int { return LineOf(v.file, path) }

// LineOf returns the line of the field at path (a YAML path such as
// $.outputs[0].http.url) in file, or of the nearest enclosing field that
// is written there; 1 when none is. Other YAML files of the receiver (the
// rules file) place their errors with it too.
func LineOf(file *ast.File, path string) int {
	for p := path; p != "" && p != "$"; {
		if yp, err := yaml.PathString(p); err == nil {
			if n, err := yp.FilterFile(file); err == nil && n != nil && n.GetToken() != nil {
				return n.GetToken().Position.Line
			}
		}
		// Not written: try the enclosing field.
		if i := strings.LastIndexAny(p, ".["); i > 0 {
			p = p[:i]
		} else {
			break
		}
	}
	return 1
}

// expand replaces ${VAR} in the value at path, failing where a variable is
// not set.
func (v *validator) expand(path, field, s string) string {
	out, err := Expand(s, v.getenv)
	if err != nil {
		v.fail(path, "%s: %v", field, err)
	}
	return out
}

func (v *validator) duration(path, field, s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		v.fail(path, "%s: %q is not a positive duration such as 10s or 72h", field, s)
		return def
	}
	return d
}

func (v *validator) output(at string, oc OutputConfig) Output {
	o := Output{Name: oc.Name, Type: oc.Type, Ordered: oc.Ordered == nil || *oc.Ordered}
	if !validName(oc.Name) {
		v.fail(at+".name", "name: %q must be 1-64 letters, digits, '-' or '_'", oc.Name)
	}
	switch oc.Start {
	case "", "now":
	case "beginning":
		o.FromBeginning = true
	default:
		v.fail(at+".start", "start: %q must be beginning or now", oc.Start)
	}
	o.MaxAge = v.duration(at+".max_age", "max_age", oc.MaxAge, DefaultMaxAge)
	o.Filter = store.OutputFilter{EventTypes: oc.Filter.EventTypes, Statuses: oc.Filter.Statuses, StudyIDs: oc.Filter.StudyIDs}
	if len(oc.Filter.EventTypes) == 0 {
		v.fail(at+".filter.event_types", `filter.event_types: list the event types to forward (e.g. [study.status.change, submission.status.change]), or ["*"] for every type`)
	}
	if slices.Contains(oc.Filter.EventTypes, "*") {
		o.Filter.EventTypes = nil // every type, those Prolific adds later included
	}
	for field, list := range map[string][]string{"event_types": oc.Filter.EventTypes, "statuses": oc.Filter.Statuses, "study_ids": oc.Filter.StudyIDs} {
		for j, s := range list {
			if strings.TrimSpace(s) == "" {
				v.fail(fmt.Sprintf("%s.filter.%s[%d]", at, field, j), "filter.%s: entry %d is empty", field, j)
			}
		}
	}
	switch oc.Type {
	case "http":
		if oc.NATS != nil {
			v.fail(at+".nats", "nats: an http output takes an http block, not nats")
		}
		o.HTTP = v.http(at+".http", oc.HTTP)
	case "nats":
		if oc.HTTP != nil {
			v.fail(at+".http", "http: a nats output takes a nats block, not http")
		}
		o.NATS = v.nats(at+".nats", oc.NATS)
	default:
		v.fail(at+".type", "type: %q must be http or nats", oc.Type)
	}
	return o
}

func (v *validator) http(at string, hc *HTTPConfig) HTTPSettings {
	if hc == nil {
		v.fail(at, "http: an http output needs an http block with url and secret")
		return HTTPSettings{}
	}
	s := HTTPSettings{Timeout: v.duration(at+".timeout", "http.timeout", hc.Timeout, DefaultHTTPTimeout)}
	s.URL = v.expand(at+".url", "http.url", hc.URL)
	if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.fail(at+".url", "http.url: must be an http:// or https:// URL")
	}
	secret := v.expand(at+".secret", "http.secret", hc.Secret)
	key, err := DecodeSecret(secret)
	if err != nil {
		v.fail(at+".secret", "http.secret: %v", err)
	}
	s.Key = key
	return s
}

func (v *validator) nats(at string, nc *NATSConfig) NATSSettings {
	if nc == nil {
		v.fail(at, "nats: a nats output needs a nats block with url and subject")
		return NATSSettings{}
	}
	s := NATSSettings{Timeout: v.duration(at+".timeout", "nats.timeout", nc.Timeout, DefaultNATSTimeout)}
	s.URL = v.expand(at+".url", "nats.url", nc.URL)
	if s.URL == "" {
		v.fail(at+".url", "nats.url: required, e.g. nats://127.0.0.1:4222")
	}
	subj, err := ParseSubject(v.expand(at+".subject", "nats.subject", nc.Subject))
	if err != nil {
		v.fail(at+".subject", "nats.subject: %v", err)
	}
	s.Subject = subj
	s.Stream = v.expand(at+".stream", "nats.stream", nc.Stream)
	s.StreamSubjects = nc.Streams
	if s.Stream != "" && len(s.StreamSubjects) == 0 && subj != nil {
		s.StreamSubjects = []string{subj.Wildcard()}
	}
	return s
}

// validName reports whether s is a usable output name (metric label, URL
// path segment).
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
