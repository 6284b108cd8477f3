package loadgen

import (
	"errors"
	"flag"
	"fmt"
)

// parseFlags parses args into fs. After -h, which has printed the usage,
// run is false and err nil: asking for help is not a failure. Positional
// arguments are refused unless allowArgs.
func parseFlags(fs *flag.FlagSet, args []string, allowArgs bool) (run bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, nil
		}
		return false, err
	}
	if !allowArgs && fs.NArg() > 0 {
		return false, fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return true, nil
}

// secretFlags registers -secret and -secret-file on fs; the func it
// returns reads the secret they name, else $SecretEnv (see loadSecret).
func secretFlags(fs *flag.FlagSet) func() (string, error) {
	secret := fs.String("secret", "", "webhook signing `secret` (prefer -secret-file or $"+SecretEnv+")")
	secretFile := fs.String("secret-file", "", "read the signing secret from `FILE`")
	return func() (string, error) { return loadSecret(*secret, *secretFile) }
}
