package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/prolific-receiver/receiver/internal/handlers"
)

// builtinAdminURL is -admin-url's default when RECEIVER_ADMIN_ADDR is unset,
// matching RECEIVER_ADMIN_ADDR's own default.
const builtinAdminURL = "http://127.0.0.1:9090"

// adminFlags registers -admin-url and -token, the flags of every
// subcommand that talks to a running receiver's admin listener. Run in the
// receiver's own environment they find it: -admin-url defaults to
// $RECEIVER_ADMIN_ADDR, as the token does to $RECEIVER_ADMIN_TOKEN.
func adminFlags(fs *flag.FlagSet, adminURL, token *string) {
	def, from := defaultAdminURL(os.Getenv("RECEIVER_ADMIN_ADDR"))
	fs.StringVar(adminURL, "admin-url", def, "the receiver's admin listener; its default is "+from)
	fs.StringVar(token, "token", "", "admin API bearer token (default: $RECEIVER_ADMIN_TOKEN)")
}

// defaultAdminURL is the admin listener's URL for addr, a value of
// RECEIVER_ADMIN_ADDR, and where it came from, for -h. The listener
// serves plain HTTP. An address listening on every interface (":9090",
// "0.0.0.0:9090", "[::]:9090") is reached on loopback: 127.0.0.1, or ::1
// for "[::]" (reachable whether or not the socket also takes IPv4). An
// unset or unusable addr gives the built-in default, and -h says why.
func defaultAdminURL(addr string) (url, from string) {
	if addr == "" {
		return builtinAdminURL, "built in (RECEIVER_ADMIN_ADDR is unset)"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return builtinAdminURL, fmt.Sprintf("built in (RECEIVER_ADMIN_ADDR=%q is not host:port)", addr)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	// A zone (fe80::1%eth0) is written %25 in a URL (RFC 6874).
	return "http://" + net.JoinHostPort(strings.ReplaceAll(host, "%", "%25"), port),
		"derived from RECEIVER_ADMIN_ADDR=" + addr
}

// adminToken is the -token value given, else $RECEIVER_ADMIN_TOKEN.
func adminToken(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv("RECEIVER_ADMIN_TOKEN")
}

// getAdminJSON reads path (with its query) from a receiver's admin listener
// into out. Errors start with what, the subcommand's name.
func getAdminJSON(ctx context.Context, c *http.Client, adminURL, path, token, what string, out any) error {
	return adminJSON(ctx, c, http.MethodGet, adminURL, path, token, what, out)
}

// adminJSON sends a body-less method request to path on a receiver's admin
// listener and reads the JSON answer into out: a 200's, or one of accept's
// when given (an endpoint whose error answers carry a body worth reading).
func adminJSON(ctx context.Context, c *http.Client, method, adminURL, path, token, what string, out any, accept ...int) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(adminURL, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Accept", "application/json")
	if method != http.MethodGet {
		// What handlers.GuardAdminWrites asks of a state-changing request.
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(handlers.HeaderRequestedBy, "receiver-cli")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	if len(accept) == 0 {
		accept = []int{http.StatusOK}
	}
	if !slices.Contains(accept, resp.StatusCode) {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("%s: receiver answered 401: pass -token or set RECEIVER_ADMIN_TOKEN", what)
		}
		return fmt.Errorf("%s: receiver answered %d: %s", what, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("%s: decode response: %w", what, err)
	}
	return nil
}
