package prolific

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// CreateSubscription creates a subscription delivering eventType to
// targetURL and returns it with the one-time hookSecret from the
// X-Hook-Secret response header, which ConfirmSubscription needs. hookSecret
// is empty if Prolific sent no such header.
//
// The body is decoded tolerantly (webhooks.md §5): a single object with an
// id, or {"results": [...]} from which the entry matching eventType and
// targetURL is taken.
//
// The request is retried only on 429, 503 or a connection that was never
// established: after a timeout or a dropped connection Prolific may have
// created the subscription, and a blind retry would create a second one.
// Callers that must converge should re-list (bootstrap does).
func (c *Client) CreateSubscription(ctx context.Context, workspaceID, eventType, targetURL string) (sub Subscription, hookSecret string, err error) {
	const ep = "hooks.subscriptions.create"
	res, err := c.do(ctx, call{endpoint: ep, method: http.MethodPost, path: "/api/v1/hooks/subscriptions/", create: true,
		body: map[string]string{"workspace_id": workspaceID, "event_type": eventType, "target_url": targetURL}})
	if err != nil {
		return Subscription{}, "", err
	}
	sub, err = decodeCreated(ep, res.body, eventType, targetURL)
	if err != nil {
		return Subscription{}, "", err
	}
	return sub, res.header.Get(HeaderHookSecret), nil
}

func decodeCreated(ep string, body []byte, eventType, targetURL string) (Subscription, error) {
	var probe struct {
		ID      *string         `json:"id"`
		Results json.RawMessage `json:"results"`
	}
	if err := decode(ep, body, &probe); err != nil {
		return Subscription{}, err
	}
	if probe.ID != nil && *probe.ID != "" {
		var s Subscription
		return s, decode(ep, body, &s)
	}
	list, err := decodeList[Subscription](ep, body)
	if err != nil {
		return Subscription{}, err
	}
	for _, s := range list {
		if s.ID != "" && s.EventType == eventType && s.TargetURL == targetURL {
			return s, nil
		}
	}
	if len(list) == 1 && list[0].ID != "" {
		return list[0], nil
	}
	return Subscription{}, fmt.Errorf("prolific %s: response names no subscription for %s → %s", ep, eventType, targetURL)
}

// Delivery statuses in a subscription's delivery log (webhooks.md §4.3).
const (
	DeliveryPending   = "PENDING"
	DeliverySucceeded = "SUCCEEDED"
	DeliveryFailed    = "FAILED" // the last attempt got no 2xx
)

// SubscriptionEvent is one entry of a subscription's delivery log.
type SubscriptionEvent struct {
	ID         string          `json:"id"`
	Created    time.Time       `json:"datetime_created"` // zero if absent or unparseable
	Updated    time.Time       `json:"datetime_updated"` // zero if absent or unparseable
	EventType  string          `json:"event_type"`
	ResourceID string          `json:"resource_id"`
	Status     string          `json:"status"` // PENDING, SUCCEEDED or FAILED
	TargetURL  string          `json:"target_url"`
	Payload    json.RawMessage `json:"payload"` // the body that was sent; nil or "null" if none
}

// UnmarshalJSON decodes Prolific's field names, tolerating odd timestamps.
func (e *SubscriptionEvent) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID         string          `json:"id"`
		Created    string          `json:"datetime_created"`
		Updated    string          `json:"datetime_updated"`
		EventType  string          `json:"event_type"`
		ResourceID string          `json:"resource_id"`
		Status     string          `json:"status"`
		TargetURL  string          `json:"target_url"`
		Payload    json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*e = SubscriptionEvent{ID: raw.ID, EventType: raw.EventType, ResourceID: raw.ResourceID,
		Status: raw.Status, TargetURL: raw.TargetURL, Payload: raw.Payload,
		Created: parseTime(raw.Created), Updated: parseTime(raw.Updated)}
	return nil
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// EventsQuery filters SubscriptionEvents. Zero values are not sent, so
// Prolific's defaults (offset 0, limit 100) apply.
type EventsQuery struct {
	Offset     int
	Limit      int      // 1–1000
	Status     []string // one or more of PENDING, SUCCEEDED, FAILED
	ResourceID string
}

// SubscriptionEvents reads one page of a subscription's delivery log.
func (c *Client) SubscriptionEvents(ctx context.Context, id string, q EventsQuery) ([]SubscriptionEvent, error) {
	const ep = "hooks.subscriptions.events"
	if id == "" {
		return nil, fmt.Errorf("prolific %s: subscription id: %w", ep, errEmptyID)
	}
	v := url.Values{}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	switch len(q.Status) {
	case 0:
	case 1:
		v.Set("status", q.Status[0])
	default:
		// Several statuses travel as a JSON array in one string.
		b, _ := json.Marshal(q.Status)
		v.Set("status", string(b))
	}
	if q.ResourceID != "" {
		v.Set("resource_id", q.ResourceID)
	}
	res, err := c.do(ctx, call{endpoint: ep, method: http.MethodGet, path: subscriptionPath(id) + "events/", query: v})
	if err != nil {
		return nil, err
	}
	return decodeList[SubscriptionEvent](ep, res.body)
}
