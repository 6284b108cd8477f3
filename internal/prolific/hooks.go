package prolific

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// EventType is a subscribable event type from GET /api/v1/hooks/event-types/.
type EventType struct {
	EventType   string `json:"event_type"`
	Description string `json:"description"`
}

// Secret is a workspace's webhook signing secret. Value is the signing key;
// String and GoString never show it.
type Secret struct {
	ID          string `json:"id"`
	Value       string `json:"value"`
	WorkspaceID string `json:"workspace_id"`
}

// String describes the secret without its value.
func (s Secret) String() string {
	return fmt.Sprintf("prolific.Secret{ID: %q, WorkspaceID: %q, Value: %s}", s.ID, s.WorkspaceID, redacted(s.Value))
}

// GoString is String, so that %#v cannot print the value either.
func (s Secret) GoString() string { return s.String() }

// Subscription is Prolific's SubscriptionDetail: one event type delivered to
// one target URL for one workspace.
type Subscription struct {
	ID          string `json:"id"`
	EventType   string `json:"event_type"`
	TargetURL   string `json:"target_url"`
	IsEnabled   bool   `json:"is_enabled"`
	WorkspaceID string `json:"workspace_id"`
}

// SubscriptionUpdate is the body of PATCH /api/v1/hooks/subscriptions/{id}/;
// nil fields are left unchanged.
type SubscriptionUpdate struct {
	EventType *string `json:"event_type,omitempty"`
	TargetURL *string `json:"target_url,omitempty"`
	IsEnabled *bool   `json:"is_enabled,omitempty"`
}

// errEmptyID guards path building: an empty id would silently address the
// collection instead of one item.
var errEmptyID = errors.New("empty id")

// EventTypes lists the event types Prolific lets you subscribe to.
func (c *Client) EventTypes(ctx context.Context) ([]EventType, error) {
	const ep = "hooks.event_types.list"
	res, err := c.do(ctx, call{endpoint: ep, method: http.MethodGet, path: "/api/v1/hooks/event-types/"})
	if err != nil {
		return nil, err
	}
	return decodeList[EventType](ep, res.body)
}

// Secrets lists the workspace's signing secrets (at most one is active).
func (c *Client) Secrets(ctx context.Context, workspaceID string) ([]Secret, error) {
	const ep = "hooks.secrets.list"
	if workspaceID == "" {
		return nil, fmt.Errorf("prolific %s: workspace id: %w", ep, errEmptyID)
	}
	res, err := c.do(ctx, call{endpoint: ep, method: http.MethodGet, path: "/api/v1/hooks/secrets/",
		query: url.Values{"workspace_id": {workspaceID}}})
	if err != nil {
		return nil, err
	}
	return decodeList[Secret](ep, res.body)
}

// CreateSecret creates the workspace's signing secret, replacing (deleting)
// any existing one: deliveries signed with the old secret stop verifying
// unless the receiver still accepts it.
func (c *Client) CreateSecret(ctx context.Context, workspaceID string) (Secret, error) {
	const ep = "hooks.secrets.create"
	if workspaceID == "" {
		return Secret{}, fmt.Errorf("prolific %s: workspace id: %w", ep, errEmptyID)
	}
	res, err := c.do(ctx, call{endpoint: ep, method: http.MethodPost, path: "/api/v1/hooks/secrets/",
		body: map[string]string{"workspace_id": workspaceID}, create: true})
	if err != nil {
		return Secret{}, err
	}
	var s Secret
	if err := decode(ep, res.body, &s); err != nil {
		return Secret{}, err
	}
	if s.Value == "" {
		// Tolerate a {"results":[...]} wrapper like the other hook calls use.
		if list, lerr := decodeList[Secret](ep, res.body); lerr == nil && len(list) > 0 {
			s = list[0]
		}
	}
	if s.Value == "" {
		return Secret{}, fmt.Errorf("prolific %s: response carries no secret value", ep)
	}
	return s, nil
}

// Subscriptions lists the workspace's subscriptions that are enabled (or,
// with enabled false, disabled), following limit/offset pages until a short
// page. An empty workspaceID lists every workspace the token can see.
func (c *Client) Subscriptions(ctx context.Context, workspaceID string, enabled bool) ([]Subscription, error) {
	const ep = "hooks.subscriptions.list"
	var all []Subscription
	seen := make(map[string]bool)
	offset := 0
	for page := 0; page < maxPages; page++ {
		q := url.Values{
			"is_enabled": {strconv.FormatBool(enabled)},
			"limit":      {strconv.Itoa(c.pageSize)},
			"offset":     {strconv.Itoa(offset)},
		}
		if workspaceID != "" {
			q.Set("workspace_id", workspaceID)
		}
		res, err := c.do(ctx, call{endpoint: ep, method: http.MethodGet, path: "/api/v1/hooks/subscriptions/", query: q})
		if err != nil {
			return nil, err
		}
		items, err := decodeList[Subscription](ep, res.body)
		if err != nil {
			return nil, err
		}
		offset += len(items)
		added := 0
		for _, s := range items {
			if s.ID != "" && seen[s.ID] {
				continue
			}
			seen[s.ID] = true
			all = append(all, s)
			added++
		}
		// A short page ends the list; so does a page with nothing new, which
		// protects against a server that ignores offset.
		if len(items) < c.pageSize || added == 0 {
			return all, nil
		}
	}
	return nil, fmt.Errorf("prolific %s: more than %d pages", ep, maxPages)
}

// Subscription fetches one subscription.
func (c *Client) Subscription(ctx context.Context, id string) (Subscription, error) {
	return c.subscriptionCall(ctx, call{endpoint: "hooks.subscriptions.get", method: http.MethodGet}, id)
}

// ConfirmSubscription confirms a new subscription with the one-time
// X-Hook-Secret value CreateSubscription returned (not the signing secret).
func (c *Client) ConfirmSubscription(ctx context.Context, id, hookSecret string) (Subscription, error) {
	return c.subscriptionCall(ctx, call{endpoint: "hooks.subscriptions.confirm", method: http.MethodPost,
		body: map[string]string{"secret": hookSecret}}, id)
}

// UpdateSubscription changes the fields set in u, e.g. IsEnabled to pause or
// re-enable deliveries.
func (c *Client) UpdateSubscription(ctx context.Context, id string, u SubscriptionUpdate) (Subscription, error) {
	return c.subscriptionCall(ctx, call{endpoint: "hooks.subscriptions.update", method: http.MethodPatch, body: u}, id)
}

// DeleteSubscription deletes a subscription. A retried delete that finds the
// subscription already gone returns an error matching ErrNotFound.
func (c *Client) DeleteSubscription(ctx context.Context, id string) error {
	const ep = "hooks.subscriptions.delete"
	if id == "" {
		return fmt.Errorf("prolific %s: subscription id: %w", ep, errEmptyID)
	}
	_, err := c.do(ctx, call{endpoint: ep, method: http.MethodDelete, path: subscriptionPath(id)})
	return err
}

func (c *Client) subscriptionCall(ctx context.Context, cl call, id string) (Subscription, error) {
	if id == "" {
		return Subscription{}, fmt.Errorf("prolific %s: subscription id: %w", cl.endpoint, errEmptyID)
	}
	cl.path = subscriptionPath(id)
	res, err := c.do(ctx, cl)
	if err != nil {
		return Subscription{}, err
	}
	var s Subscription
	if err := decode(cl.endpoint, res.body, &s); err != nil {
		return Subscription{}, err
	}
	return s, nil
}

func subscriptionPath(id string) string {
	return "/api/v1/hooks/subscriptions/" + url.PathEscape(id) + "/"
}

// decodeList reads a list response tolerantly: {"results": [...]} as
// documented, a bare array, or {"results": {"0": {...}}} as in one of
// Prolific's malformed doc examples.
func decodeList[T any](endpoint string, body []byte) ([]T, error) {
	var wrapped struct {
		Results json.RawMessage `json:"results"`
	}
	raw := json.RawMessage(body)
	if len(body) > 0 && body[0] == '{' {
		if err := decode(endpoint, body, &wrapped); err != nil {
			return nil, err
		}
		raw = wrapped.Results
		if len(raw) == 0 || string(raw) == "null" {
			return nil, nil
		}
	}
	var items []T
	if err := json.Unmarshal(raw, &items); err == nil {
		return items, nil
	}
	var keyed map[string]T
	if err := json.Unmarshal(raw, &keyed); err != nil {
		return nil, fmt.Errorf("prolific %s: decode response: results is neither a list nor an object: %w", endpoint, err)
	}
	keys := slices.Sorted(maps.Keys(keyed))
	slices.SortStableFunc(keys, func(a, b string) int { return cmp.Compare(len(a), len(b)) }) // "2" before "10"
	for _, k := range keys {
		items = append(items, keyed[k])
	}
	return items, nil
}
