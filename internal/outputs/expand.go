package outputs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

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

// secretPrefix starts a Standard Webhooks signing secret.
const secretPrefix = "whsec_"

// DecodeSecret returns the signing key of a Standard Webhooks secret: the
// base64 after "whsec_", decoded. Errors never echo the secret.
func DecodeSecret(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, errors.New("must be a Standard Webhooks secret: whsec_ followed by base64 (e.g. whsec_$(head -c 32 /dev/urandom | base64))")
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, errors.New("the part after whsec_ is not valid base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("the key after whsec_ is %d bytes, want 24 to 64", len(key))
	}
	return key, nil
}
