package prolifictest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// subscriptionEventJSON is one delivery-log entry (SubscriptionEvent).
type subscriptionEventJSON struct {
	ID              string          `json:"id"`
	DatetimeCreated string          `json:"datetime_created"`
	DatetimeUpdated string          `json:"datetime_updated"`
	EventType       string          `json:"event_type"`
	ResourceID      string          `json:"resource_id"`
	Status          string          `json:"status"`
	TargetURL       string          `json:"target_url"`
	Payload         json.RawMessage `json:"payload"`
}

// handleListEvents serves the delivery log, newest first.
func (f *Fake) handleListEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit, ok := paging(w, q, 100, 1000)
	if !ok {
		return
	}
	var statuses map[string]bool
	if v := q.Get("status"); v != "" {
		list := []string{v}
		if strings.HasPrefix(v, "[") {
			if err := json.Unmarshal([]byte(v), &list); err != nil {
				writeError(w, http.StatusBadRequest, fieldError("status", "Must be a status or a JSON array of statuses."))
				return
			}
		}
		statuses = map[string]bool{}
		for _, s := range list {
			if s != StatusPending && s != StatusSucceeded && s != StatusFailed {
				writeError(w, http.StatusBadRequest, fieldError("status", "Invalid status \""+s+"\"."))
				return
			}
			statuses[s] = true
		}
	}
	resource := q.Get("resource_id")
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := lookup(w, r, f.subs, subscriptionNotFound)
	if !ok {
		return
	}
	results := []subscriptionEventJSON{}
	for i := len(s.log) - 1; i >= 0; i-- {
		d := s.log[i]
		if (statuses != nil && !statuses[d.status]) || (resource != "" && d.resourceID != resource) {
			continue
		}
		results = append(results, subscriptionEventJSON{
			ID: d.id, DatetimeCreated: isoTime(d.created), DatetimeUpdated: isoTime(d.updated),
			EventType: d.eventType, ResourceID: d.resourceID, Status: d.status, TargetURL: d.targetURL,
			Payload: json.RawMessage(d.body),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": window(results, offset, limit)})
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// paging reads offset (>= 0) and limit (1..max) or answers 400.
func paging(w http.ResponseWriter, q url.Values, def, maxLimit int) (offset, limit int, ok bool) {
	offset, limit = 0, def
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fieldError("offset", "Must be an integer >= 0."))
			return 0, 0, false
		}
		offset = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			writeError(w, http.StatusBadRequest, fieldError("limit", "Must be an integer between 1 and "+strconv.Itoa(maxLimit)+"."))
			return 0, 0, false
		}
		limit = n
	}
	return offset, limit, true
}

func window[T any](all []T, offset, limit int) []T {
	if offset >= len(all) {
		return []T{}
	}
	return all[offset:min(len(all), offset+limit)]
}
