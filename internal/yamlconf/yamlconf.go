// Package yamlconf reads the receiver's YAML configuration files (the
// outputs file, the rules file) strictly and validates them field by
// field, each error placed at its field's line. Values may name ${VAR}
// (and VAR_FILE), expanded from the environment; no error holds a value.
package yamlconf

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Decode parses data into dst, refusing unknown fields, and returns the
// syntax tree the Validator places its errors with.
func Decode(data []byte, dst any) (*ast.File, error) {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, errors.New(yaml.FormatError(err, false, false))
	}
	if err := yaml.UnmarshalWithOptions(data, dst, yaml.DisallowUnknownField()); err != nil {
		return nil, errors.New(yaml.FormatError(err, false, false))
	}
	return file, nil
}

// Validator collects errors, each placed at its field's line.
type Validator struct {
	File   *ast.File
	Getenv func(string) string
	// DurationExample ends the error for a bad duration ("such as ...").
	DurationExample string
	Errs            []error
}

// Fail records an error about the field at path (a YAML path such as
// $.outputs[0].http.url), prefixed with the line of the nearest field that
// is written in the file.
func (v *Validator) Fail(path, format string, args ...any) {
	v.Errs = append(v.Errs, fmt.Errorf("line %d: %s", v.Line(path), fmt.Sprintf(format, args...)))
}

// Line returns the line of the field at path (see LineOf).
func (v *Validator) Line(path string) int { return LineOf(v.File, path) }

// Err joins the errors recorded, nil when there are none.
func (v *Validator) Err() error { return errors.Join(v.Errs...) }

// Expand replaces ${VAR} in the value at path, failing where a variable is
// not set.
func (v *Validator) Expand(path, field, s string) string {
	out, err := Expand(s, v.Getenv)
	if err != nil {
		v.Fail(path, "%s: %v", field, err)
	}
	return out
}

// Duration parses the positive duration s at path; def when s is empty or
// wrong (the latter recorded).
func (v *Validator) Duration(path, field, s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		v.Fail(path, "%s: %q is not a positive duration such as %s", field, s, v.DurationExample)
		return def
	}
	return d
}

// Name checks that the name at path is ValidName.
func (v *Validator) Name(path, name string) {
	if !ValidName(name) {
		v.Fail(path, "name: %q must be 1-64 letters, digits, '-' or '_'", name)
	}
}

// ValidName reports whether s is a usable name (metric label, URL path
// segment): 1-64 letters, digits, '-' or '_'.
func ValidName(s string) bool {
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

// LineOf returns the line of the field at path (a YAML path such as
// $.outputs[0].http.url) in file, or of the nearest enclosing field that
// is written there; 1 when none is.
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

// varPattern is ${NAME}, NAME as environment variables are spelled.
var varPattern = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Expand replaces each ${NAME} in s with the value of NAME, or with the
// contents of the file NAME_FILE names when that is set (the file wins,
// surrounding whitespace trimmed), as the receiver's own secrets are read.
// A variable that is neither set nor has a file is an error naming it; the
// error never holds a value.
func Expand(s string, getenv func(string) string) (string, error) {
	var errs []error
	out := varPattern.ReplaceAllStringFunc(s, func(m string) string {
		name := varPattern.FindStringSubmatch(m)[1]
		if path := getenv(name + "_FILE"); path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("${%s}: reading %s_FILE: %w", name, name, errors.Unwrap(err)))
				return ""
			}
			return strings.TrimSpace(string(b))
		}
		v := getenv(name)
		if v == "" {
			errs = append(errs, fmt.Errorf("${%s} is not set (set %s or %s_FILE)", name, name, name))
		}
		return v
	})
	return out, errors.Join(errs...)
}
