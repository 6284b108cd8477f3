// Package storetest is the behavioural contract suite every store.Store
// backend runs (docs/store.md), plus small helpers for backend tests:
// a controllable Clock and the NewEvent builder.
//
// A backend's test calls
//
//	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store { ... })
//
// where the function returns a fresh, empty store and registers its cleanup
// with t.Cleanup. Subtests run in parallel, so open must be safe to call
// concurrently. Under -race the loads are smaller (see race.go).
//
// The suite checks the semantics docs/store.md states, including the
// details it spells out for Save (Seq and StudyID filled in, event-ID
// aliases and their cap, tested with Options.MaxAliases = 3),
// SetSubmissionStudy, stale snapshots, list ordering and limits, and the
// job lease calls (RetryJob clearing requeue included) and the polling
// sweep's EnqueueStudyRefreshes and retention's PruneEvents. It does not check
// that CompleteJob of a requeued job clears last_error and resets
// created_at; the cap's default is checked in package store.
package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// T0 is the X-Timestamp the suite's events are placed around.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Clock is a manual clock for store.Options.Now. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var eventCounter atomic.Int64

// runID keeps event IDs unique across test processes sharing one database.
var runID = time.Now().UnixNano()

// NewEvent returns a verified-looking delivery of eventType about resourceID
// with X-Timestamp at: a fresh X-Event-ID and content hash, a body shaped as
// Prolific sends it, ParticipantID "p-<resourceID>" for submission events,
// SignatureForm "raw" and ReceivedAt one second after at. status is used by
// status-change events and ignored otherwise.
func NewEvent(eventType, resourceID, status string, at time.Time) *store.Event {
	n := eventCounter.Add(1)
	body := map[string]string{"event_type": eventType, "resource_id": resourceID}
	e := &store.Event{
		ID:            fmt.Sprintf("evt-%x-%d", runID, n),
		Type:          eventType,
		ResourceID:    resourceID,
		EventTime:     at,
		ReceivedAt:    at.Add(time.Second),
		SignatureForm: "raw",
	}
	switch eventType {
	case submissionEvent:
		e.ParticipantID = "p-" + resourceID
		body["participant_id"] = e.ParticipantID
		e.Status, body["status"] = status, status
	case studyStatus:
		e.Status, body["status"] = status, status
	}
	e.Body, _ = json.Marshal(body)
	// The request timestamp differs per delivery, so the content hash does too.
	e.ContentHash = store.ContentHash(fmt.Sprintf("%d.%d.%d", at.Unix(), runID, n), e.Body)
	return e
}

// Event types, short.
const (
	studyStatus     = prolific.EventStudyStatusChange
	studyProgress   = prolific.EventStudyProgressChange
	studyHighReturn = prolific.EventStudyHighReturnRate
	submissionEvent = prolific.EventSubmissionStatusChange
)
