package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"time"
)

// OutputFilter selects the events an output receives. Each list that is
// not empty must hold the event's value; an empty list matches any value.
// A Statuses list never matches an event without a status
// (study.progress.change, say).
type OutputFilter struct {
	EventTypes []string
	Statuses   []string
	StudyIDs   []string
}

// Match reports whether an event of eventType with status, about studyID
// (the study resolved when it was stored; "" when unknown), passes f.
func (f OutputFilter) Match(eventType, status, studyID string) bool {
	return matchList(f.EventTypes, eventType) && matchList(f.Statuses, status) && matchList(f.StudyIDs, studyID)
}

func matchList(list []string, v string) bool {
	return len(list) == 0 || slices.Contains(list, v)
}

// Output is one configured output as the store sees it: Save queues an
// outbox row for it, in the event's transaction, for every stored event
// that passes Filter.
type Output struct {
	Name   string
	Filter OutputFilter
	// FromBeginning, the first time the store sees the output (Open
	// registers it), queues every stored event that passes Filter, in
	// stored order; otherwise only events stored from then on are queued.
	// Later opens never queue the history again.
	FromBeginning bool
}

// OrderKey is the key outbox rows are ordered by within an output: the
// event's study, or its resource (a submission whose study was not known)
// when there is none.
func OrderKey(e *Event, studyID string) string {
	if studyID != "" {
		return studyID
	}
	return e.ResourceID
}

// OutboxItem is one event queued for one output.
type OutboxItem struct {
	ID        int64  // the row's ID, increasing with queue order
	Output    string // the output's name
	OrderKey  string // see OrderKey
	EventSeq  int64
	Event     *Event    // the stored event; nil when it was pruned before delivery
	CreatedAt time.Time // when the row was queued
	AgeFrom   time.Time // when the row's maximum age started (queued, or retried from the dead letters)
	DueAt     time.Time
	Attempts  int       // delivery attempts so far, the current one included once claimed
	LastError string    // why the last attempt failed
	DeadAt    time.Time // when it was dead-lettered; zero while pending
}

// OutputState is an output's standing in the store.
type OutputState struct {
	Name         string
	RegisteredAt time.Time
	Paused       bool   // by an operator (SetOutputPaused)
	Disabled     string // why the worker stopped it (the destination answered 410 Gone); "" when enabled
	Pending      int
	// OldestPending is CreatedAt of the oldest pending row; zero when none.
	OldestPending time.Time
	DeadLetters   int
}

// Outbox is the part of the store the output workers and the operators'
// API use. Rows are queued by Save (see Output); a row leased by one
// caller is invisible to other callers, on any replica, until the lease
// ends or the row is completed or released.
type Outbox interface {
	// ClaimOutbox leases up to limit due rows of output to owner for lease,
	// oldest first, unless the output is paused or disabled. With ordered,
	// a row is claimed only while no older row of the same output and
	// OrderKey is pending (due or not, leased or not), so rows of one key
	// are delivered one at a time in queue order; dead letters do not hold
	// later rows back.
	ClaimOutbox(ctx context.Context, output, owner string, limit int, lease time.Duration, ordered bool) ([]OutboxItem, error)
	// CompleteOutbox deletes delivered rows owner holds.
	CompleteOutbox(ctx context.Context, owner string, ids []int64) error
	// RetryOutbox releases rows owner holds to be tried again, each at its
	// At, recording its Reason, in one write.
	RetryOutbox(ctx context.Context, owner string, retries []OutboxRetry) error
	// DeadLetterOutbox moves a row owner holds to the dead letters.
	DeadLetterOutbox(ctx context.Context, owner string, id int64, reason string) error
	// DisableOutput stops claims of output until SetOutputPaused(false).
	DisableOutput(ctx context.Context, output, reason string) error
	// SetOutputPaused pauses or resumes output on every replica; resuming
	// also clears DisableOutput. An output never registered is ErrNotFound.
	SetOutputPaused(ctx context.Context, output string, paused bool) error
	// RetryOutput makes every pending row of output due now and returns how
	// many; with deadLetters it instead moves the dead letters back to
	// pending, due now, their maximum age starting afresh.
	RetryOutput(ctx context.Context, output string, deadLetters bool) (int, error)
	// OutputStates lists every registered output by name.
	OutputStates(ctx context.Context) ([]OutputState, error)
	// DeadLetters lists output's dead letters with ID > afterID, oldest
	// first, at most limit (capped at MaxLimit).
	DeadLetters(ctx context.Context, output string, afterID int64, limit int) ([]OutboxItem, error)
}

// OutboxRetry is a failed row to try again: at At, because of Reason.
type OutboxRetry struct {
	ID     int64
	At     time.Time
	Reason string
}

// LeaseOwner returns a name for a worker's leases that no other process
// uses: host, process ID and a random suffix.
func LeaseOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
