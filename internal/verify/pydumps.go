package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects PythonDumps accepts.
// Real webhook bodies are two levels deep.
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
// items, ": " after keys, object keys in their original order (duplicates
// kept), every non-ASCII character (and every control character, and DEL)
// escaped as lowercase \uXXXX with UTF-16 surrogate pairs above U+FFFF, the
// short escapes \" \\ \n \r \t \b \f, and '/', '<', '>', '&' left alone.
//
// Numbers are copied verbatim. Python would rewrite non-canonical floats (1e5
// becomes 100000.0); a Python sender's own output is canonical already, and
// Prolific's documented payloads carry no numbers, so verbatim is what
// matches in practice and keeps PythonDumps idempotent.
//
// Escaped lone surrogates (\ud800) are kept, as Python keeps them. Invalid
// JSON, invalid UTF-8, trailing data and nesting deeper than MaxDepth are
// errors. The body is validated by encoding/json and then rewritten in one
// allocation-light pass rather than token by token, because an
// unauthenticated sender chooses it and can make Verify build this form.
func PythonDumps(body []byte) ([]byte, error) {
	if err := validJSON(body); err != nil {
		return nil, fmt.Errorf("python dumps: %w", err)
	}
	out := make([]byte, 0, len(body)+len(body)/8+16)
	depth := 0
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case ' ', '\t', '\n', '\r':
		case ',':
			out = append(out, ", "...)
		case ':':
			out = append(out, ": "...)
		case '[', '{':
			if depth++; depth > MaxDepth {
				return nil, fmt.Errorf("python dumps: %w", errTooDeep)
			}
			out = append(out, c)
		case ']', '}':
			depth--
			out = append(out, c)
		case '"':
			out, i = appendPyString(out, body, i+1)
		default: // inside a number or a literal: copied as is
			out = append(out, c)
		}
	}
	return out, nil
}

// validJSON reports why body is not exactly one JSON value in valid UTF-8.
func validJSON(body []byte) error {
	if !utf8.Valid(body) {
		return errInvalidUTF8
	}
	if json.Valid(body) {
		return nil
	}
	// Slow path, only to name the problem.
	if len(bytes.TrimSpace(body)) == 0 {
		return errEmpty
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return err
	}
	return errTrailing
}

const hexDigits = "0123456789abcdef"

// appendPyString rewrites the JSON string whose contents start at body[i]
// (just after the opening quote) in Python's ensure_ascii style, appends it
// with its quotes to out and returns the index of the closing quote. body
// must be valid JSON in valid UTF-8.
//
// A \uXXXX escape is re-emitted as lowercase \uXXXX unless it names a
// printable ASCII character or has a short form. Since each UTF-16 unit is
// copied on its own, surrogate pairs come out as pairs and a lone surrogate
// stays lone, exactly as Python round-trips them.
func appendPyString(out, body []byte, i int) ([]byte, int) {
	out = append(out, '"')
	for ; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '"':
			return append(out, '"'), i
		case c == '\\':
			i++
			switch e := body[i]; e {
			case 'u':
				out = appendPyRune(out, rune(hexVal(body[i+1])<<12|hexVal(body[i+2])<<8|hexVal(body[i+3])<<4|hexVal(body[i+4])))
				i += 4
			case '/':
				out = append(out, '/')
			default: // " \ b f n r t keep their short escape
				out = append(out, '\\', e)
			}
		case c < utf8.RuneSelf:
			out = appendPyRune(out, rune(c))
		default:
			r, size := utf8.DecodeRune(body[i:])
			i += size - 1
			if r >= 0x10000 {
				r -= 0x10000
				out = appendU4(out, 0xd800|(r>>10)&0x3ff)
				r = 0xdc00 | r&0x3ff
			}
			out = appendU4(out, r)
		}
	}
	return out, i // unreachable for valid JSON
}

// appendPyRune appends one UTF-16 unit r as json.dumps would write it.
func appendPyRune(out []byte, r rune) []byte {
	switch {
	case r == '"' || r == '\\':
		return append(out, '\\', byte(r))
	case r == '\n':
		return append(out, `\n`...)
	case r == '\r':
		return append(out, `\r`...)
	case r == '\t':
		return append(out, `\t`...)
	case r == '\b':
		return append(out, `\b`...)
	case r == '\f':
		return append(out, `\f`...)
	case r >= 0x20 && r <= 0x7e:
		return append(out, byte(r))
	}
	return appendU4(out, r)
}

// appendU4 appends \uXXXX with lowercase hex digits.
func appendU4(out []byte, r rune) []byte {
	return append(out, '\\', 'u',
		hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// hexVal returns the value of one hex digit already validated by the parser.
func hexVal(c byte) int {
	switch {
	case c >= 'a':
		return int(c-'a') + 10
	case c >= 'A':
		return int(c-'A') + 10
	}
	return int(c - '0')
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
