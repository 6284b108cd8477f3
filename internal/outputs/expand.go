package outputs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/prolific-receiver/receiver/internal/yamlconf"
)

// Expand replaces each ${NAME} in s with the value of NAME, or with the
// contents of the file NAME_FILE names (see yamlconf.Expand).
func Expand(s string, getenv func(string) string) (string, error) {
	return yamlconf.Expand(s, getenv)
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
