// Package flagset builds the flag sets of the project's subcommands, so
// that every one reports its errors and prints its -h the same way.
package flagset

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// New is the flag set of the subcommand name (as its errors call it): its
// errors go to stderr, and -h prints usage (ending its line if it does
// not), then the flags.
func New(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if !strings.HasSuffix(usage, "\n") {
		usage += "\n"
	}
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}
