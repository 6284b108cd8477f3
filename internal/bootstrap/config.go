// Package bootstrap registers the receiver with Prolific (webhooks.md §5): it
// checks the wanted event types exist, makes sure the workspace has a signing
// secret, and leaves exactly one enabled, confirmed subscription per wanted
// event type pointing at the receiver's public URL. It is idempotent and
// safe to run from several replicas at once.
package bootstrap

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

// WebhookPath is appended to a PublicURL that has no path of its own.
const WebhookPath = "/hooks/prolific"

// Config says what to register.
type Config struct {
	// WorkspaceID is the Prolific workspace (PROLIFIC_WORKSPACE_ID).
	WorkspaceID string
	// PublicURL is where Prolific should deliver (RECEIVER_PUBLIC_URL): an
	// https:// URL with a public host. If it has no path, WebhookPath is
	// appended; otherwise it is used as the target_url exactly.
	PublicURL string
	// EventTypes to subscribe to; empty means prolific.DefaultEventTypes.
	EventTypes []string
	// RotateSecret replaces the workspace's signing secret even when one
	// exists. Summary.PreviousSecret then holds the old one, which the
	// receiver should keep accepting for a grace period.
	RotateSecret bool
	// AllowInsecureURL accepts http:// and loopback/private hosts, for tests
	// and demos against the fake Prolific. Real Prolific refuses them.
	AllowInsecureURL bool
}

// TargetURL returns the target_url the subscriptions use for cfg, or an error
// saying how to fix RECEIVER_PUBLIC_URL.
func TargetURL(cfg Config) (string, error) {
	raw := strings.TrimSpace(cfg.PublicURL)
	if raw == "" {
		return "", errors.New("RECEIVER_PUBLIC_URL is empty: set it to the public https:// URL Prolific should deliver webhooks to")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("RECEIVER_PUBLIC_URL %q is not a valid URL: %w", raw, err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && cfg.AllowInsecureURL:
	default:
		return "", fmt.Errorf("RECEIVER_PUBLIC_URL %q must start with https:// (Prolific only delivers to https URLs)", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("RECEIVER_PUBLIC_URL %q has no host: use https://your.public.host%s", raw, WebhookPath)
	}
	if u.User != nil || u.Fragment != "" {
		return "", fmt.Errorf("RECEIVER_PUBLIC_URL %q must not contain user info or a #fragment", raw)
	}
	if !cfg.AllowInsecureURL && !publicHost(u.Hostname()) {
		return "", fmt.Errorf("RECEIVER_PUBLIC_URL %q names a local host: Prolific must reach it over the internet (use a public host name or a tunnel)", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = WebhookPath
	}
	return u.String(), nil
}

// publicHost rejects localhost and loopback, private, link-local and
// unspecified addresses; names other than localhost are trusted.
func publicHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return false
	}
	ip := net.ParseIP(h)
	if ip == nil {
		return true
	}
	return !(ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast())
}

// check validates cfg and returns the target URL and the wanted event types
// (defaulted, de-duplicated, in order).
func (cfg Config) check() (target string, types []string, err error) {
	if strings.TrimSpace(cfg.WorkspaceID) == "" {
		return "", nil, errors.New("PROLIFIC_WORKSPACE_ID is empty: set it to the ID of the Prolific workspace whose webhooks the receiver manages")
	}
	if target, err = TargetURL(cfg); err != nil {
		return "", nil, err
	}
	wanted := cfg.EventTypes
	if len(wanted) == 0 {
		wanted = prolific.DefaultEventTypes
	}
	seen := map[string]bool{}
	for _, t := range wanted {
		t = strings.TrimSpace(t)
		if t == "" {
			return "", nil, errors.New("RECEIVER_EVENT_TYPES contains an empty event type")
		}
		if !seen[t] {
			seen[t] = true
			types = append(types, t)
		}
	}
	return target, types, nil
}
