package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"testing"
	"unicode/utf8"
)

// FuzzVerify checks that Verify never panics on any header values and body,
// and that a body signed with Sign always verifies as FormRaw.
func FuzzVerify(f *testing.F) {
	f.Add(vecPySig, vecTimestamp, []byte(vecPyBody), vecSecret)
	f.Add(vecPySig, vecTimestamp, []byte(vecCompact), vecSecret)
	f.Add("", "", []byte(""), "")
	f.Add("!!!!", "1735689600.25", []byte(`{"note":"café"}`), "k")
	f.Add(vecCompSig, "1735689600250", []byte("[1,[2,{}]] x"), "another")
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte, secret string) {
		now := vecTime
		// Arbitrary input: must not panic; errors must be sentinels.
		if _, err := Verify(sig, ts, body, []string{secret}, now, DefaultTolerance); err != nil && !isSentinel(err) {
			t.Fatalf("Verify() error = %v, want one of the package's sentinels", err)
		}
		if secret == "" {
			return
		}
		if _, err := ParseTimestamp(ts); err != nil {
			return
		}
		good := Sign(secret, ts, body)
		got, err := Verify(good, ts, body, []string{"unrelated", secret}, now, Tolerance{})
		if err != nil {
			t.Fatalf("Verify(Sign(...)) error = %v, want nil", err)
		}
		if got.Form != FormRaw || got.SecretIndex != 1 {
			t.Fatalf("Verify(Sign(...)) = form %s index %d, want form %s index 1", got.Form, got.SecretIndex, FormRaw)
		}
	})
}

// isSentinel reports whether err is one of the package's errors.
func isSentinel(err error) bool {
	for _, s := range []error{ErrNoSecret, ErrNoSignature, ErrBadSignatureEncoding, ErrNoTimestamp,
		ErrBadTimestamp, ErrNoValidSignature, ErrTooOld, ErrTooNew} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzPythonDumps checks that PythonDumps accepts every valid, not too deep
// JSON document, that its output is pure ASCII JSON decoding to the same
// value, equal to the json.Decoder.Token reference and idempotent, and that
// it never panics.
func FuzzPythonDumps(f *testing.F) {
	for _, s := range []string{
		vecCompact, vecPyBody, `{"note":"café"}`, `"😀\u0000\"\\/<>&"`, `[1e5,-0.0,1E+2,0.10]`,
		`{"a":[{},[],null,true,false]}`, `"\ud800"`, "\"\x7f\"", `[[[[]]]]`, ` 42 `, `{"a":1} 2`, "\"\xff\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := PythonDumps(in)
		if err != nil {
			if json.Valid(in) && utf8.Valid(in) && depth(in) <= MaxDepth {
				t.Fatalf("PythonDumps(%q) error = %v, want nil for valid JSON", in, err)
			}
			return
		}
		if !json.Valid(in) {
			t.Fatalf("PythonDumps(%q) = %q, want an error for invalid JSON", in, out)
		}
		for i, c := range out {
			if c >= utf8.RuneSelf {
				t.Fatalf("PythonDumps(%q)[%d] = %#x, want ASCII only", in, i, c)
			}
		}
		if got, want := decodeAny(t, out), decodeAny(t, in); !reflect.DeepEqual(got, want) {
			t.Fatalf("PythonDumps(%q) = %q decodes to %#v, want %#v", in, out, got, want)
		}
		// Lone surrogates are the one place the Token reference differs.
		if !surrogateEscape.Match(in) {
			if ref, err := pythonDumpsTokens(in); err != nil || !bytes.Equal(ref, out) {
				t.Fatalf("PythonDumps(%q) = %q, want %q, %v (token reference)", in, out, ref, err)
			}
		}
		again, err := PythonDumps(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("PythonDumps(%q) = %q, %v; want it unchanged (idempotent)", out, again, err)
		}
	})
}

// surrogateEscape matches a \u escape of a UTF-16 surrogate.
var surrogateEscape = regexp.MustCompile(`\\u[dD][89abcdefABCDEF]`)

// decodeAny decodes b keeping numbers as their text.
func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

// depth returns the deepest bracket nesting in b, ignoring brackets inside
// strings. b must be valid JSON.
func depth(b []byte) int {
	d, maxD, inStr := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && (c == '[' || c == '{'):
			d++
			maxD = max(maxD, d)
		case !inStr && (c == ']' || c == '}'):
			d--
		}
	}
	return maxD
}
