package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/prolific-receiver/receiver/internal/flagset"
)

// AdminTokenEnv is the environment variable holding the read API's bearer token.
const AdminTokenEnv = "RECEIVER_ADMIN_TOKEN"

// ErrCheckFailed is returned by `loadgen check` when an acknowledged event is
// missing or an event is stored twice.
var ErrCheckFailed = errors.New("check failed")

const checkUsage = `Usage: receiver loadgen check [flags]

Proves that every event ID in the -acked file(s) (written by
"receiver loadgen -acked FILE") is stored by the receiver, by asking its read
API (GET /api/v1/events/{id}), and that the event listing holds no ID twice.
The admin token, if the API needs one, comes from $RECEIVER_ADMIN_TOKEN.
Exits non-zero when an acknowledged event is missing or repeated.

Flags:
`

// checkMain runs `receiver loadgen check`.
func checkMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagset.New("loadgen check", checkUsage, stderr)
	admin := fs.String("admin", "http://127.0.0.1:9090", "receiver admin `URL` (loopback)")
	acked := fs.String("acked", "", "acked ID `FILE`s, comma-separated")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if run, err := parseFlags(fs, args, true); !run {
		return err
	}
	var files []string
	for f := range strings.SplitSeq(*acked, ",") {
		if f = strings.TrimSpace(f); f != "" {
			files = append(files, f)
		}
	}
	if len(files) == 0 || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("loadgen check: -acked FILE is required")
	}
	res, err := CheckAcked(ctx, *admin, os.Getenv(AdminTokenEnv), files...)
	if err != nil {
		return fmt.Errorf("loadgen %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("loadgen check: %w", err)
		}
	} else {
		fmt.Fprintf(stdout, "acked %d, found %d, missing %d, stored %d, repeated %d\n",
			res.Acked, res.Found, res.MissingCount, res.Stored, res.RepeatedCount)
		for _, id := range res.Missing {
			fmt.Fprintf(stdout, "missing %s\n", id)
		}
		for _, id := range res.Repeated {
			fmt.Fprintf(stdout, "repeated %s\n", id)
		}
	}
	if !res.OK() {
		return fmt.Errorf("loadgen: %w: %d of %d acknowledged events missing, %d stored more than once",
			ErrCheckFailed, res.MissingCount, res.Acked, res.RepeatedCount)
	}
	return nil
}
