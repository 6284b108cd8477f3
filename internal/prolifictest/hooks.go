package prolifictest

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

// eventTypes are the four documented event types (webhooks.md §3) with
// descriptions in Prolific's words.
var eventTypes = []struct {
	EventType   string `json:"event_type"`
	Description string `json:"description"`
}{
	{prolific.EventSubmissionStatusChange, "Triggered when a submission's status changes."},
	{prolific.EventStudyStatusChange, "Triggered when a study's status changes."},
	{prolific.EventStudyProgressChange, "Triggered when the progress of a study changes."},
	{prolific.EventStudyHighReturnRate, "Triggered when a study has a high return rate."},
}

func knownEventType(t string) bool {
	for _, e := range eventTypes {
		if e.EventType == t {
			return true
		}
	}
	return false
}

type subscription struct {
	id, workspaceID, eventType, targetURL string
	enabled, confirmed                    bool
	hookSecret                            string
	log                                   []*deliveryRecord
}

type subscriptionJSON struct {
	ID          string `json:"id"`
	EventType   string `json:"event_type"`
	TargetURL   string `json:"target_url"`
	IsEnabled   bool   `json:"is_enabled"`
	WorkspaceID string `json:"workspace_id"`
}

func (s *subscription) json() subscriptionJSON {
	return subscriptionJSON{ID: s.id, EventType: s.eventType, TargetURL: s.targetURL, IsEnabled: s.enabled, WorkspaceID: s.workspaceID}
}

type secretJSON struct {
	ID          string `json:"id"`
	Value       string `json:"value"`
	WorkspaceID string `json:"workspace_id"`
}

func (f *Fake) handleEventTypes(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"results": eventTypes})
}

func (f *Fake) handleListSecrets(w http.ResponseWriter, r *http.Request) {
	wsID := r.URL.Query().Get("workspace_id")
	if !requireField(w, "workspace_id", wsID) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ws, ok := find(w, f.workspaces, wsID, workspaceNotFound)
	if !ok {
		return
	}
	results := []secretJSON{}
	if ws.secret != nil {
		results = append(results, secretJSON{ID: ws.secret.id, Value: ws.secret.value, WorkspaceID: ws.id})
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

// handleCreateSecret replaces the workspace's secret: exactly one per workspace.
func (f *Fake) handleCreateSecret(w http.ResponseWriter, r *http.Request) {
	var in struct {
		WorkspaceID string `json:"workspace_id"`
	}
	if !decodeBody(w, r, &in) || !requireField(w, "workspace_id", in.WorkspaceID) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ws, ok := find(w, f.workspaces, in.WorkspaceID, workspaceNotFound)
	if !ok {
		return
	}
	ws.secret = &secretRecord{id: NewID(), value: newSecret()}
	writeJSON(w, http.StatusCreated, secretJSON{ID: ws.secret.id, Value: ws.secret.value, WorkspaceID: ws.id})
}

// handleListSubscriptions lists enabled subscriptions unless is_enabled=false.
func (f *Fake) handleListSubscriptions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	enabled := true
	if v := q.Get("is_enabled"); v != "" {
		b, err := strconv.ParseBool(strings.ToLower(v))
		if err != nil {
			writeError(w, http.StatusBadRequest, fieldError("is_enabled", "Must be a valid boolean."))
			return
		}
		enabled = b
	}
	offset, limit, ok := paging(w, q, 100, 1000)
	if !ok {
		return
	}
	wsID := q.Get("workspace_id")
	f.mu.Lock()
	defer f.mu.Unlock()
	if wsID != "" {
		if _, ok := find(w, f.workspaces, wsID, workspaceNotFound); !ok {
			return
		}
	}
	results := []subscriptionJSON{}
	for _, id := range f.subOrder {
		s := f.subs[id]
		if s.enabled != enabled || (wsID != "" && s.workspaceID != wsID) {
			continue
		}
		results = append(results, s.json())
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": window(results, offset, limit)})
}

func (f *Fake) handleCreateSubscription(w http.ResponseWriter, r *http.Request) {
	var in struct {
		WorkspaceID string `json:"workspace_id"`
		EventType   string `json:"event_type"`
		TargetURL   string `json:"target_url"`
		IsEnabled   *bool  `json:"is_enabled"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	missing := map[string][]string{}
	for field, v := range map[string]string{"workspace_id": in.WorkspaceID, "event_type": in.EventType, "target_url": in.TargetURL} {
		if v == "" {
			missing[field] = []string{fieldRequired}
		}
	}
	if len(missing) > 0 {
		writeError(w, http.StatusBadRequest, missing)
		return
	}
	if !knownEventType(in.EventType) {
		writeError(w, http.StatusBadRequest, fieldError("event_type", "Invalid event type."))
		return
	}
	if msg := f.checkTarget(in.TargetURL); msg != "" {
		writeError(w, http.StatusBadRequest, fieldError("target_url", msg))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ws, ok := find(w, f.workspaces, in.WorkspaceID, workspaceNotFound)
	if !ok {
		return
	}
	if ws.secret == nil {
		writeError(w, http.StatusBadRequest, "A secret must be created for the workspace before creating a subscription.")
		return
	}
	// is_enabled is accepted but a subscription stays disabled until confirmed.
	s := &subscription{id: NewID(), workspaceID: ws.id, eventType: in.EventType, targetURL: in.TargetURL, hookSecret: newSecret()}
	f.subs[s.id] = s
	f.subOrder = append(f.subOrder, s.id)
	w.Header().Set(prolific.HeaderHookSecret, s.hookSecret)
	if f.opts.CreateResponseShape == ShapeResults {
		writeJSON(w, http.StatusCreated, map[string]any{"results": []subscriptionJSON{s.json()}})
		return
	}
	writeJSON(w, http.StatusCreated, s.json())
}

// checkTarget returns why target is not acceptable, or "".
func (f *Fake) checkTarget(target string) string {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return "Enter a valid URL."
	}
	if f.opts.AllowHTTPTargets {
		if u.Scheme != "https" && u.Scheme != "http" {
			return "Enter a valid URL."
		}
		return ""
	}
	if u.Scheme != "https" {
		return "The target URL must use https."
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); strings.EqualFold(host, "localhost") || (ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified())) {
		return "The target URL must be publicly reachable."
	}
	return ""
}

// Prolific's details for an unknown workspace or subscription (404).
const (
	workspaceNotFound    = "Workspace not found."
	subscriptionNotFound = "Subscription not found."
)

func (f *Fake) handleGetSubscription(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := lookup(w, r, f.subs, subscriptionNotFound); ok {
		writeJSON(w, http.StatusOK, s.json())
	}
}

// handleConfirmSubscription enables a subscription given its X-Hook-Secret.
func (f *Fake) handleConfirmSubscription(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Secret string `json:"secret"`
	}
	if !decodeBody(w, r, &in) || !requireField(w, "secret", in.Secret) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := lookup(w, r, f.subs, subscriptionNotFound)
	if !ok {
		return
	}
	if in.Secret != s.hookSecret {
		writeError(w, http.StatusBadRequest, fieldError("secret", "Invalid secret."))
		return
	}
	s.confirmed, s.enabled = true, true
	writeJSON(w, http.StatusOK, s.json())
}

// handleUpdateSubscription patches event_type, target_url or is_enabled.
// Enabling a subscription that was never confirmed is refused (400): the
// documented way to enable one is confirmation (webhooks.md §6 item 10).
func (f *Fake) handleUpdateSubscription(w http.ResponseWriter, r *http.Request) {
	var in struct {
		EventType *string `json:"event_type"`
		TargetURL *string `json:"target_url"`
		IsEnabled *bool   `json:"is_enabled"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	if in.EventType != nil && !knownEventType(*in.EventType) {
		writeError(w, http.StatusBadRequest, fieldError("event_type", "Invalid event type."))
		return
	}
	if in.TargetURL != nil {
		if msg := f.checkTarget(*in.TargetURL); msg != "" {
			writeError(w, http.StatusBadRequest, fieldError("target_url", msg))
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := lookup(w, r, f.subs, subscriptionNotFound)
	if !ok {
		return
	}
	if in.IsEnabled != nil && *in.IsEnabled && !s.confirmed {
		writeError(w, http.StatusBadRequest, fieldError("is_enabled", "The subscription has not been confirmed."))
		return
	}
	if in.EventType != nil {
		s.eventType = *in.EventType
	}
	if in.TargetURL != nil {
		s.targetURL = *in.TargetURL
	}
	if in.IsEnabled != nil {
		s.enabled = *in.IsEnabled
	}
	writeJSON(w, http.StatusOK, s.json())
}

func (f *Fake) handleDeleteSubscription(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := lookup(w, r, f.subs, subscriptionNotFound)
	if !ok {
		return
	}
	delete(f.subs, s.id)
	for i, id := range f.subOrder {
		if id == s.id {
			f.subOrder = append(f.subOrder[:i:i], f.subOrder[i+1:]...)
			break
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// requireField answers 400 with Prolific's detail for a missing field when
// v, the field's value, is empty.
func requireField(w http.ResponseWriter, field, v string) bool {
	if v == "" {
		writeError(w, http.StatusBadRequest, fieldError(field, fieldRequired))
		return false
	}
	return true
}

// decodeBody decodes a JSON request body into v or answers 400.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "JSON parse error.")
		return false
	}
	return true
}
