package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects PythonDumps accepts.
// It keeps hostile bodies from costing unbounded memory; real webhook bodies
// are two levels deep.
const MaxDepth = 1000

var (
	errInvalidUTF8 = errors.New("body is not valid UTF-8")
	errEmpty       = errors.New("body is empty")
	errTooDeep     = fmt.Errorf("body nests deeper than %d", MaxDepth)
	errTrailing    = errors.New("trailing data after JSON value")
)

// PythonDumps re-serialises the single JSON value in body the way Python's
// json.dumps(json.loads(body)) does with default arguments, which is the
// message Prolific's documented verification snippet signs: ", " between
// items, ": " after keys, object keys in their original order, every non-ASCII
// character (and every control character, and DEL) escaped as lowercase
// \uXXXX with UTF-16 surrogate pairs above U+FFFF, the short escapes \" \\ \n
// \r \t \b \f, and '/', '<', '>', '&' left alone.
//
// Numbers are copied verbatim. Python would rewrite non-canonical floats (1e5
// becomes 100000.0); a Python sender's own output is canonical already, and
// Prolific's documented payloads carry no numbers, so verbatim is what
// matches in practice and keeps PythonDumps idempotent.
//
// Invalid JSON, invalid UTF-8, trailing data and nesting deeper than MaxDepth
// are errors. An escaped lone surrogate (\ud800) decodes to U+FFFD and is
// written as \ufffd, where Python would keep it.
func PythonDumps(body []byte) ([]byte, error) {
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("python dumps: %w", errInvalidUTF8)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := pyWriter{out: make([]byte, 0, len(body)+len(body)/8+16)}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil, fmt.Errorf("python dumps: %w", errEmpty)
		}
		if err != nil {
			return nil, fmt.Errorf("python dumps: %w", err)
		}
		done, err := w.token(tok)
		if err != nil {
			return nil, fmt.Errorf("python dumps: %w", err)
		}
		if done {
			break
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("python dumps: %w", errTrailing)
	}
	return w.out, nil
}

// frame is one open array or object.
type frame struct {
	object  bool
	items   int  // values written so far
	wantKey bool // an object's next string token is a key
}

// pyWriter turns a token stream into Python-style JSON.
type pyWriter struct {
	out   []byte
	stack []frame
}

// token writes one token and reports whether the top-level value is complete.
func (w *pyWriter) token(tok json.Token) (bool, error) {
	if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
		w.out = append(w.out, byte(d))
		w.stack = w.stack[:len(w.stack)-1]
		return w.valueDone(), nil
	}
	if n := len(w.stack); n > 0 {
		top := &w.stack[n-1]
		if top.items > 0 && (!top.object || top.wantKey) {
			w.out = append(w.out, ", "...)
		}
		if top.object && top.wantKey {
			// The decoder guarantees an object key is a string.
			w.out = appendPyString(w.out, tok.(string))
			w.out = append(w.out, ": "...)
			top.wantKey = false
			return false, nil
		}
	}
	switch v := tok.(type) {
	case json.Delim: // '{' or '['
		if len(w.stack) >= MaxDepth {
			return false, errTooDeep
		}
		w.out = append(w.out, byte(v))
		w.stack = append(w.stack, frame{object: v == '{', wantKey: v == '{'})
		return false, nil
	case string:
		w.out = appendPyString(w.out, v)
	case json.Number:
		w.out = append(w.out, v...)
	case bool:
		if v {
			w.out = append(w.out, "true"...)
		} else {
			w.out = append(w.out, "false"...)
		}
	case nil:
		w.out = append(w.out, "null"...)
	default:
		return false, fmt.Errorf("unexpected token type %T", tok)
	}
	return w.valueDone(), nil
}

// valueDone records a finished value in the enclosing container and reports
// whether it was the top-level value.
func (w *pyWriter) valueDone() bool {
	n := len(w.stack)
	if n == 0 {
		return true
	}
	top := &w.stack[n-1]
	top.items++
	top.wantKey = top.object
	return false
}

const hexDigits = "0123456789abcdef"

// appendPyString appends s as a JSON string escaped like Python's json.dumps
// with ensure_ascii=True. s must be valid UTF-8 (the decoder guarantees it).
func appendPyString(out []byte, s string) []byte {
	out = append(out, '"')
	for _, r := range s {
		switch {
		case r == '"':
			out = append(out, `\"`...)
		case r == '\\':
			out = append(out, `\\`...)
		case r == '\n':
			out = append(out, `\n`...)
		case r == '\r':
			out = append(out, `\r`...)
		case r == '\t':
			out = append(out, `\t`...)
		case r == '\b':
			out = append(out, `\b`...)
		case r == '\f':
			out = append(out, `\f`...)
		case r >= 0x20 && r <= 0x7e:
			out = append(out, byte(r))
		case r < 0x10000:
			out = appendU4(out, r)
		default:
			r -= 0x10000
			out = appendU4(out, 0xd800|(r>>10)&0x3ff)
			out = appendU4(out, 0xdc00|r&0x3ff)
		}
	}
	return append(out, '"')
}

// appendU4 appends \uXXXX with lowercase hex digits.
func appendU4(out []byte, r rune) []byte {
	return append(out, '\\', 'u',
		hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// Compact returns body with insignificant whitespace removed, the form a
// JavaScript sender's JSON.stringify(JSON.parse(body)) would produce for
// ASCII bodies. Strings and numbers are kept byte for byte. Invalid JSON,
// invalid UTF-8 and trailing data are errors.
func Compact(body []byte) ([]byte, error) {
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("compact: %w", errInvalidUTF8)
	}
	var buf bytes.Buffer
	buf.Grow(len(body))
	if err := json.Compact(&buf, body); err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	return buf.Bytes(), nil
}
