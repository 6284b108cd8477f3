package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"
)

// pythonDumpsTokens is the reference implementation of PythonDumps as
// webhooks.md §2.2 describes it: json.Decoder.Token with UseNumber, rewritten
// token by token. It is simple enough to trust, but it allocates per token
// and runs at a few MB/s, too slow for bodies an unauthenticated sender
// controls; PythonDumps is a single-pass rewrite that the tests and
// FuzzPythonDumps check against this one. It differs in one place: an escaped
// lone surrogate decodes to U+FFFD here and is written as \ufffd.
func pythonDumpsTokens(body []byte) ([]byte, error) {
	if !utf8.Valid(body) {
		return nil, errInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := tokenWriter{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil, errEmpty
		}
		if err != nil {
			return nil, err
		}
		done, err := w.token(tok)
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailing
	}
	return w.out, nil
}

// tokenFrame is one open array or object.
type tokenFrame struct {
	object  bool
	items   int  // values written so far
	wantKey bool // an object's next string token is a key
}

// tokenWriter turns a token stream into Python-style JSON.
type tokenWriter struct {
	out   []byte
	stack []tokenFrame
}

// token writes one token and reports whether the top-level value is complete.
func (w *tokenWriter) token(tok json.Token) (bool, error) {
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
			w.out = appendPyStringRef(w.out, tok.(string))
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
		w.stack = append(w.stack, tokenFrame{object: v == '{', wantKey: v == '{'})
		return false, nil
	case string:
		w.out = appendPyStringRef(w.out, v)
	case json.Number:
		w.out = append(w.out, v...)
	case bool:
		w.out = fmt.Append(w.out, v)
	case nil:
		w.out = append(w.out, "null"...)
	default:
		return false, fmt.Errorf("unexpected token type %T", tok)
	}
	return w.valueDone(), nil
}

// valueDone records a finished value in the enclosing container and reports
// whether it was the top-level value.
func (w *tokenWriter) valueDone() bool {
	n := len(w.stack)
	if n == 0 {
		return true
	}
	top := &w.stack[n-1]
	top.items++
	top.wantKey = top.object
	return false
}

// appendPyStringRef appends the decoded string s escaped like Python's
// json.dumps with ensure_ascii=True.
func appendPyStringRef(out []byte, s string) []byte {
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
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			r -= 0x10000
			out = fmt.Appendf(out, `\u%04x\u%04x`, 0xd800|(r>>10)&0x3ff, 0xdc00|r&0x3ff)
		}
	}
	return append(out, '"')
}
