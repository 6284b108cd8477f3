package verify

import (
	"errors"
	"strings"
	"testing"
)

func TestPythonDumps(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"documented vector", vecCompact, vecPyBody},
		{"already python", vecPyBody, vecPyBody},
		{"non-ascii", `{"note":"café"}`, `{"note": "caf\u00e9"}`},
		{"non-ascii key", `{"naïve":1}`, `{"na\u00efve": 1}`},
		{"emoji surrogate pair", `{"e":"😀"}`, `{"e": "\ud83d\ude00"}`},
		{"astral plane top", `"` + "\U0010FFFF" + `"`, `"\udbff\udfff"`},
		{"cjk lowercase hex", `"日本"`, `"\u65e5\u672c"`},
		{"escaped input non-ascii", `"caf\u00E9"`, `"caf\u00e9"`},
		{"short escapes", `"\"\\\n\r\t\b\f"`, `"\"\\\n\r\t\b\f"`},
		{"other control chars", `"\u0000\u0001\u001f"`, `"\u0000\u0001\u001f"`},
		{"DEL is escaped like python", `"a` + "\x7f" + `"`, `"a\u007f"`},
		{"slash and html unescaped", `"<a href=\/x>&amp;</a>"`, `"<a href=/x>&amp;</a>"`},
		{"line separators", `"` + "\u2028\u2029" + `"`, `"\u2028\u2029"`},
		{"nested", `{"a":[1,[2,[]],{"b":{"c":[{}]}}],"d":{}}`, `{"a": [1, [2, []], {"b": {"c": [{}]}}], "d": {}}`},
		{"empties", `[{},[],"",{"":""}]`, `[{}, [], "", {"": ""}]`},
		{"numbers verbatim", `[1e5,-0.0,1E+2,0.10,-12,123456789012345678901234567890]`,
			`[1e5, -0.0, 1E+2, 0.10, -12, 123456789012345678901234567890]`},
		{"literals", `[true,false,null]`, `[true, false, null]`},
		{"whitespace everywhere", " \n{ \"a\" :\t[ 1 , 2 ] ,\r\n\"b\":null }\n ", `{"a": [1, 2], "b": null}`},
		{"key order kept", `{"z":1,"a":2,"m":3}`, `{"z": 1, "a": 2, "m": 3}`},
		{"duplicate keys kept", `{"a":1,"a":2}`, `{"a": 1, "a": 2}`},
		{"scalar string", `"x"`, `"x"`},
		{"scalar number", ` 42 `, `42`},
		{"lone surrogate kept like python", `"\ud800x\uDC00"`, `"\ud800x\udc00"`},
		{"escaped pair kept", `"\uD83D\uDE00"`, `"\ud83d\ude00"`},
		{"escaped ascii unescaped", `"\u0041\u002f\u0022\u005c\u000a"`, `"A/\"\\\n"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PythonDumps([]byte(tc.in))
			if err != nil {
				t.Fatalf("PythonDumps(%q) error = %v, want nil", tc.in, err)
			}
			if string(got) != tc.want {
				t.Errorf("PythonDumps(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestPythonDumpsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error // nil: any error
	}{
		{"empty", "", errEmpty},
		{"only space", "  \n", errEmpty},
		{"trailing value", `{"a":1} {"b":2}`, errTrailing},
		{"trailing garbage", `[1] x`, errTrailing},
		{"trailing number", `1 2`, errTrailing},
		{"invalid utf-8", "\"caf\xe9\"", errInvalidUTF8},
		{"invalid utf-8 in key", "{\"\xff\":1}", errInvalidUTF8},
		{"too deep", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), errTooDeep},
		{"hostile depth unterminated", strings.Repeat(`{"a":`, 100000), nil},
		{"trailing comma", `[1,]`, nil},
		{"unterminated", `{"a":`, nil},
		{"bare word", `hello`, nil},
		{"single quotes", `{'a':1}`, nil},
		{"nan", `NaN`, nil},
		{"leading zero", `01`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PythonDumps([]byte(tc.in))
			if err == nil {
				t.Fatalf("PythonDumps(%q) = %q, want an error", short(tc.in), short(string(got)))
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("PythonDumps(%q) error = %v, want %v", short(tc.in), short(err.Error()), tc.want)
			}
		})
	}
}

func TestPythonDumpsAtMaxDepth(t *testing.T) {
	in := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	got, err := PythonDumps([]byte(in))
	if err != nil || string(got) != in {
		t.Errorf("PythonDumps(depth %d) = %d bytes, %v; want the input back", MaxDepth, len(got), err)
	}
}

func TestCompact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{vecPyBody, vecCompact},
		{"{\n \"a\" : [ 1 , \"x y\" ] }\n", `{"a":[1,"x y"]}`},
		{`{"note": "café <&>"}`, `{"note":"café <&>"}`},
	} {
		got, err := Compact([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("Compact(%q) = %q, %v; want %q, nil", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "[1,]", `{"a":1} 2`, "\"\xff\""} {
		if got, err := Compact([]byte(in)); err == nil {
			t.Errorf("Compact(%q) = %q, want an error", in, got)
		}
	}
}

// TestPythonDumpsMatchesTokenReference compares the single-pass rewrite with
// the json.Decoder.Token reference on every table input.
func TestPythonDumpsMatchesTokenReference(t *testing.T) {
	for _, in := range []string{
		vecCompact, vecPyBody, `{"note":"café"}`, `{"e":"😀 \u00e9"}`, `"\"\\\n\r\t\b\f\u0000\u001f"`,
		"\"a\x7f\"", `"<a href=\/x>&amp;</a>"`, `{"a":[1,[2,[]],{"b":{"c":[{}]}}],"d":{}}`,
		`[1e5,-0.0,1E+2,0.10,-12]`, " \n{ \"a\" :\t[ 1 , 2 ] ,\r\n\"b\":null }\n ", `{"a":1,"a":2}`, ` 42 `,
		`"\u0041\u002f\u0022\u005c\u000a\u00E9\uD83D\uDE00"`,
	} {
		got, err := PythonDumps([]byte(in))
		want, werr := pythonDumpsTokens([]byte(in))
		if err != nil || werr != nil || string(got) != string(want) {
			t.Errorf("PythonDumps(%q) = %q, %v; want %q, %v (token reference)", in, got, err, want, werr)
		}
	}
}

// short truncates s for failure messages.
func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
