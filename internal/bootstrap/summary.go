package bootstrap

import (
	"fmt"
	"strings"
)

// Action is what Run did to one event type's subscription.
type Action string

// Subscription actions.
const (
	// Unchanged: an enabled subscription already existed.
	Unchanged Action = "unchanged"
	// Reenabled: a disabled subscription was switched back on.
	Reenabled Action = "re-enabled"
	// Created: a new subscription was created and confirmed.
	Created Action = "created"
	// Recreated: a disabled subscription could not be re-enabled, so it was
	// deleted and a new one created and confirmed.
	Recreated Action = "recreated"
)

// SecretAction is what Run did about the workspace's signing secret.
type SecretAction string

// Secret actions.
const (
	// SecretFetched: the existing secret was read and kept.
	SecretFetched SecretAction = "fetched"
	// SecretCreated: the workspace had none, so one was created.
	SecretCreated SecretAction = "created"
	// SecretRotated: an existing secret was replaced (Config.RotateSecret).
	SecretRotated SecretAction = "rotated"
)

// Result is the outcome for one event type.
type Result struct {
	EventType string `json:"event_type"`
	Action    Action `json:"action"`
	// SubscriptionID is the subscription left enabled for the event type.
	SubscriptionID string `json:"subscription_id"`
}

// Summary is what Run did. Its String and JSON forms never contain secret values.
type Summary struct {
	WorkspaceID  string       `json:"workspace_id"`
	TargetURL    string       `json:"target_url"`
	SecretAction SecretAction `json:"secret_action"`
	// Secret is the workspace's current signing secret, for the receiver's
	// verifier. Never printed.
	Secret string `json:"-"`
	// PreviousSecret is the secret a rotation replaced ("" otherwise); keep
	// accepting it for a grace period so in-flight deliveries still verify.
	PreviousSecret string   `json:"-"`
	Subscriptions  []Result `json:"subscriptions"`
	// RemovedDuplicates lists subscription IDs deleted because another
	// subscription for the same event type and URL was kept.
	RemovedDuplicates []string `json:"removed_duplicates,omitempty"`
}

// String renders the summary as lines for an operator, without secrets.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Prolific workspace %s → %s\n", s.WorkspaceID, s.TargetURL)
	fmt.Fprintf(&b, "  signing secret: %s", s.SecretAction)
	switch s.SecretAction {
	case SecretFetched:
		b.WriteString(" (existing secret kept)")
	case SecretCreated:
		b.WriteString(" (workspace had none)")
	case SecretRotated:
		b.WriteString(" (old secret replaced; keep accepting it until in-flight deliveries are done)")
	}
	b.WriteString("\n")
	width := 0
	for _, r := range s.Subscriptions {
		width = max(width, len(r.EventType))
	}
	for _, r := range s.Subscriptions {
		fmt.Fprintf(&b, "  %-*s  %-10s  subscription %s\n", width, r.EventType, r.Action, r.SubscriptionID)
	}
	if len(s.RemovedDuplicates) > 0 {
		fmt.Fprintf(&b, "  removed duplicate subscriptions: %s\n", strings.Join(s.RemovedDuplicates, ", "))
	}
	return b.String()
}

// GoString is String, so that %#v cannot print the secrets either.
func (s Summary) GoString() string { return s.String() }
