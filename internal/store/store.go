// Package store holds the receiver's domain types (events, studies,
// submissions, enrichment jobs) and the contract every storage backend
// fulfils (contract.go). Backends live in sub-packages: sqlite (the embedded default) and
// postgres (several replicas on one database). Both run the same behavioural
// suite in storetest.
package store

import (
	"errors"
	"slices"
	"time"
)

// Errors every backend returns (wrapped) so callers can use errors.Is.
var (
	// ErrNotFound means the requested event, study or submission is not stored.
	ErrNotFound = errors.New("not found")
	// ErrClosed means the store was closed; nothing was written.
	ErrClosed = errors.New("store closed")
	// ErrStorageFailed means the disk failed a write-back (an fsync
	// returned an error): what the kernel could not write may be gone
	// while it still shows in the page cache, so nothing written since can
	// be called durable. The store refuses every later Save and Ping until
	// it is opened again (the receiver exits so that a restart does that;
	// docs/powerloss.md).
	ErrStorageFailed = errors.New("storage failed: an fsync returned an error")
	// ErrDiskFull means the last write failed for want of space (ENOSPC).
	// Saves keep trying, and succeed again once space returns.
	ErrDiskFull = errors.New("disk full")
	// ErrFeedUnavailable means the database is set up so that a forward
	// read (the change feed) could not promise every event; the error
	// says what to fix. Other reads and saves are unaffected.
	ErrFeedUnavailable = errors.New("change feed unavailable")
)

// Outcome says what Save did with an event.
type Outcome int

const (
	// Stored means the event was new and is now durably committed.
	Stored Outcome = iota + 1
	// Duplicate means an event with the same X-Event-ID, or with the same
	// signed content (request timestamp + body), was already stored; no
	// event, projection or job changed. A new X-Event-ID whose content
	// matches a stored event is recorded as an alias of that event (see
	// MaxAliases), so Event finds it.
	Duplicate
)

// MaxAliases is the default cap on how many other X-Event-IDs one stored
// event collects as aliases (Options.MaxAliases). Two distinct Prolific
// events can carry identical signed bytes (two progress changes of one study
// in one second); the second is answered as a duplicate, and its ID is kept
// as an alias so every acknowledged X-Event-ID can be found. The cap bounds
// what a replay of one captured request with ever new unsigned IDs can add
// (1,000 rows), while leaving room for a busy study's bursts of identical
// progress pings within one second.
const MaxAliases = 1000

// String returns "stored" or "duplicate" (metric label values).
func (o Outcome) String() string {
	switch o {
	case Stored:
		return "stored"
	case Duplicate:
		return "duplicate"
	}
	return "unknown"
}

// Event is one verified webhook delivery as stored. It never holds the
// signature or the secret.
type Event struct {
	Seq           int64     // store-assigned, increasing with commit order; 0 before Save
	ID            string    // X-Event-ID, the idempotency key
	Type          string    // event_type from the body
	ResourceID    string    // resource_id from the body (study or submission ID)
	Status        string    // new status for status-change events, "" otherwise
	ParticipantID string    // submission events only
	StudyID       string    // the study the event concerns, when known at receive time
	EventTime     time.Time // X-Timestamp: orders projection updates
	ReceivedAt    time.Time // when the receiver read the request
	SignatureForm string    // which signed form matched: "raw", "python" or "compact"
	ContentHash   string    // hex SHA-256 of request timestamp + body; a second key for dedupe
	Body          []byte    // the body exactly as received
	Source        string    // where it came from: SourceWebhook ("" means that too), SourceAPI or SourceReconcile
}

// Event sources (Event.Source).
const (
	// SourceWebhook is a delivery Prolific made to the receiver.
	SourceWebhook = "webhook"
	// SourceAPI is an event backfilled from Prolific's delivery log
	// (GET /api/v1/hooks/subscriptions/{id}/events/).
	SourceAPI = "api"
	// SourceReconcile is a synthetic event recording a correction the
	// reconciler made after comparing the store with Prolific's API.
	SourceReconcile = "reconcile"
)

// SourceOf returns e's source, SourceWebhook when unset.
func SourceOf(e *Event) string {
	if e.Source == "" {
		return SourceWebhook
	}
	return e.Source
}

// Study is the projection of one study: what the webhooks and, when enabled,
// the Prolific API say about it now.
type Study struct {
	ID                   string
	Name                 string         // from the API; "" until enriched
	Status               string         // as Prolific spells it, e.g. "AWAITING REVIEW"
	StatusAt             time.Time      // X-Timestamp (or API fetch time) of the newest status applied
	PlacesTaken          int            // from the API
	PlacesTotal          int            // total_available_places, from the API
	NumberOfSubmissions  int            // from the API
	SubmissionCounts     map[string]int // by submission status: the API's counts when enriched, else counted from submission events
	HighReturnRateEvents int            // study.has_high_return_rate events stored
	LastEventAt          time.Time      // newest X-Timestamp of any event about this study
	RefreshedAt          time.Time      // last successful refresh from the API; zero if never
	UpdatedAt            time.Time      // last time the row changed
}

// Submission is the projection of one submission.
type Submission struct {
	ID            string
	StudyID       string // "" until learnt from the API
	ParticipantID string
	Status        string
	StatusAt      time.Time // X-Timestamp of the newest status applied
	UpdatedAt     time.Time
}

// EventFilter selects events for listing, newest first, or oldest first
// when Forward is set.
type EventFilter struct {
	Type       string // exact event_type, or "" for all
	ResourceID string // exact resource_id, or "" for all
	StudyID    string // events about this study (its own and its known submissions'), or ""
	BeforeSeq  int64  // only events with Seq < BeforeSeq (paging), 0 for no bound
	Limit      int    // at most this many; backends cap it at MaxLimit

	// Forward lists the events with Seq > AfterSeq, oldest first: the
	// change feed. A forward page never holds a Seq above one that a
	// transaction still running may yet commit, so a reader that pages on
	// with the last Seq it saw gets every stored event once, none skipped,
	// however many writers commit concurrently (docs/store.md "Change
	// feed"). BeforeSeq is ignored.
	Forward  bool
	AfterSeq int64
}

// FeedFilter selects a page of the change feed for a reader that acts on
// some events only (the rules engine): Store.Feed.
type FeedFilter struct {
	AfterSeq int64
	Limit    int // at most this many events; backends cap it at MaxLimit
	// Match keeps the events matching any of its entries; none keeps all.
	Match []EventMatch
}

// EventMatch matches an event whose type is one of Types, whose status is
// one of Statuses and whose source is one of Sources (SourceWebhook, ...);
// an empty list matches any.
type EventMatch struct {
	Types    []string
	Statuses []string
	Sources  []string
}

// Matches reports whether e is one of the events m matches.
func (m EventMatch) Matches(e *Event) bool {
	return (len(m.Types) == 0 || slices.Contains(m.Types, e.Type)) &&
		(len(m.Statuses) == 0 || slices.Contains(m.Statuses, e.Status)) &&
		(len(m.Sources) == 0 || slices.Contains(m.Sources, SourceOf(e)))
}

// MatchesAny reports whether some entry of ms matches e; with none, every
// event matches (FeedFilter.Match).
func MatchesAny(ms []EventMatch, e *Event) bool {
	if len(ms) == 0 {
		return true
	}
	for i := range ms {
		if ms[i].Matches(e) {
			return true
		}
	}
	return false
}

// FeedPage is a page of the change feed (Store.Feed).
type FeedPage struct {
	// Events are the matching events after AfterSeq, oldest first, without
	// their bodies, content hashes or signature forms; a submission event stored before its study was known
	// carries the study the store knows for its submission now.
	Events []Event
	// Through is how far the feed was read: every event with a seq above
	// AfterSeq and up to Through that is not in Events did not match, and
	// none will appear there later (Forward's guarantee). It is AfterSeq
	// when nothing new can be read yet.
	Through int64
}

// MaxLimit caps every list call.
const MaxLimit = 1000

// StudyFilter selects studies for listing, most recently active first.
type StudyFilter struct {
	SeenSince time.Time // only studies with LastEventAt or UpdatedAt at or after this; zero for all
	Limit     int       // 0 means MaxLimit
}

// Job kinds of the enrichment queue.
const (
	JobRefreshStudy     = "study"      // Key is a study ID: fetch the study and its submission counts
	JobLookupSubmission = "submission" // Key is a submission ID: learn its study
	// JobReconcile is a reconciliation pass (docs/reconcile.md); Key says
	// what asked for it. It is not enrichment: QueueStats leaves it out.
	JobReconcile = "reconcile"
)

// Kinds of reconciliation marks (Store.ReconcileMarks).
const (
	// MarkSubscription: Key is a subscription ID; the time up to which its
	// delivery log has been read and stored.
	MarkSubscription = "subscription"
	// MarkStudy: Key is a study ID; when its submissions were last
	// reconciled with Prolific's listing.
	MarkStudy = "study"
)

// Job is one unit of enrichment work, queued durably with the event that caused it.
type Job struct {
	Kind      string
	Key       string
	DueAt     time.Time
	Attempts  int
	CreatedAt time.Time // when the oldest pending request for this job was queued (lag)
	LastError string
}

// StudySnapshot is what the Prolific API said about a study at FetchedAt.
type StudySnapshot struct {
	ID                  string
	Name                string
	Status              string
	PlacesTaken         int
	PlacesTotal         int
	NumberOfSubmissions int
	SubmissionCounts    map[string]int // without the "TOTAL" key
	FetchedAt           time.Time
}

// QueueStats describes the enrichment queue.
type QueueStats struct {
	Depth        int       // jobs pending or running
	OldestQueued time.Time // CreatedAt of the oldest job; zero when empty
}

// CommitObserver hears about one commit attempt: how many events it held,
// how long it took and its error (nil when it committed).
type CommitObserver func(events int, took time.Duration, err error)

// Options tune a backend. The zero value stores events and projections but
// queues no enrichment work.
type Options struct {
	// Enrich makes Save queue enrichment jobs in the event's transaction.
	Enrich bool
	// Debounce is how long a queued study refresh waits for more events
	// before it is due; a burst of events for one study yields one job.
	Debounce time.Duration
	// MaxBatch bounds how many concurrent Saves share one transaction (group commit).
	MaxBatch int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxAliases caps the aliases one stored event collects; <= 0 means
	// the package's MaxAliases.
	MaxAliases int
	// ObserveCommit, when set, is called after each group commit with the
	// number of events it held and how long the commit took (see
	// WithCommitObserver).
	ObserveCommit CommitObserver
	// OnWait, when set, is told why Open is waiting before it can go on
	// (SQLite: another process holds the file; a migration runs long), once
	// per reason, so the wait can be logged instead of looking like a hang.
	OnWait func(reason string)
	// OnFatal, when set, hears once that the store failed for good
	// (ErrStorageFailed): the process should stop and be restarted.
	OnFatal func(error)
	// Outputs are the configured outputs: Save queues an outbox row for
	// each one an event passes, in the event's transaction (see Output).
	// Open registers each; names must be unique.
	Outputs []Output
}

// AliasLimit returns the alias cap o configures: o.MaxAliases, or
// MaxAliases when that is not positive.
func (o Options) AliasLimit() int {
	if o.MaxAliases <= 0 {
		return MaxAliases
	}
	return o.MaxAliases
}
