package main

import (
	"flag"
	"fmt"
)

// parseFlags parses args into fs, the flag set of a subcommand that takes
// no positional arguments, and refuses any with a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}
