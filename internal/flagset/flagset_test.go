package flagset

import (
	"bytes"
	"errors"
	"flag"
	"testing"
)

func TestNew(t *testing.T) {
	for _, usage := range []string{"usage: x [flags]\n\nflags:", "usage: x [flags]\n\nflags:\n"} {
		var stderr bytes.Buffer
		fs := New("x", usage, &stderr)
		fs.Bool("v", false, "be verbose")
		if err := fs.Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("Parse(-h) = %v, want flag.ErrHelp", err)
		}
		want := "usage: x [flags]\n\nflags:\n  -v\tbe verbose\n"
		if got := stderr.String(); got != want {
			t.Errorf("-h with usage %q printed %q, want %q", usage, got, want)
		}
		stderr.Reset()
		if err := fs.Parse([]string{"-nope"}); err == nil || fs.Name() != "x" {
			t.Fatalf("Parse(-nope) = %v, want an error", err)
		}
		if !bytes.HasPrefix(stderr.Bytes(), []byte("flag provided but not defined: -nope\nusage: x")) {
			t.Errorf("-nope printed %q, want the error, then the usage", stderr.String())
		}
	}
}
