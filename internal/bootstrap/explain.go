package bootstrap

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

// step names what bootstrap was doing, for error messages.
type step string

const (
	stepEventTypes step = "list event types"
	stepSecret     step = "read or create the signing secret"
	stepList       step = "list subscriptions"
	stepCreate     step = "create subscription"
	stepConfirm    step = "confirm subscription"
	stepEnable     step = "re-enable subscription"
	stepDelete     step = "delete subscription"
)

// explain wraps an API error with what the operator should fix. The
// original error stays in the chain for errors.Is/As.
func explain(s step, cfg Config, err error) error {
	var apiErr *prolific.APIError
	status := 0
	if errors.As(err, &apiErr) {
		status = apiErr.StatusCode
	}
	switch {
	case errors.Is(err, prolific.ErrUnauthorized) && status == http.StatusForbidden:
		return fmt.Errorf("PROLIFIC_API_TOKEN was refused by Prolific (403) for workspace %q: check the token belongs to a member of PROLIFIC_WORKSPACE_ID: %w", cfg.WorkspaceID, err)
	case errors.Is(err, prolific.ErrUnauthorized):
		return fmt.Errorf("PROLIFIC_API_TOKEN was rejected by Prolific (%d): check the token: %w", status, err)
	case errors.Is(err, prolific.ErrNotFound) && (s == stepSecret || s == stepList || s == stepCreate):
		return fmt.Errorf("workspace %q was not found by Prolific (404): check PROLIFIC_WORKSPACE_ID: %w", cfg.WorkspaceID, err)
	case status == http.StatusBadRequest && s == stepSecret:
		return fmt.Errorf("workspace %q was refused by Prolific (400): check PROLIFIC_WORKSPACE_ID: %w", cfg.WorkspaceID, err)
	case status == http.StatusBadRequest && s == stepCreate && strings.Contains(apiErr.Detail, "target_url"):
		return fmt.Errorf("RECEIVER_PUBLIC_URL %q was refused by Prolific as a target (400): it must be a public https:// URL: %w", cfg.PublicURL, err)
	}
	return fmt.Errorf("bootstrap: %s: %w", s, err)
}
