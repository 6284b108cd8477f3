package store

import (
	"context"
	"time"
)

// Locker is implemented by the stores several replicas can share
// (PostgreSQL). Lock blocks until this process holds the lock called name
// among every process using the database, or ctx ends; unlock releases it.
// The lock also ends with the process (its database session), so a crash
// never leaves it held.
type Locker interface {
	Lock(ctx context.Context, name string) (unlock func(), err error)
}

// Store is the contract every backend fulfils. Save is safe for concurrent
// use; concurrent calls may share one transaction, and each returns only after
// its own event is durably committed (or with an error, when nothing of it was).
type Store interface {
	// Save inserts e keyed by e.ID (and e.ContentHash), applies it to the
	// projections if its EventTime is newer than what they hold, and queues
	// enrichment work, all in one transaction. An e whose ID is new but
	// whose ContentHash matches a stored event is Duplicate and its ID is
	// recorded as an alias of that event (up to Options.AliasLimit).
	Save(ctx context.Context, e *Event) (Outcome, error)

	// Event returns the stored event with X-Event-ID id or, when id is an
	// alias (a delivery whose signed content matched a stored event), the
	// stored event it duplicates; then the returned Event.ID differs from id.
	Event(ctx context.Context, id string) (*Event, error)
	// Events lists stored events only; aliases are not listed.
	Events(ctx context.Context, f EventFilter) ([]Event, error)
	// Feed reads the change feed as EventFilter.Forward does, returning
	// only the events f matches, and how far it read.
	Feed(ctx context.Context, f FeedFilter) (FeedPage, error)
	Study(ctx context.Context, id string) (*Study, error)
	Studies(ctx context.Context, f StudyFilter) ([]Study, error)
	Submission(ctx context.Context, id string) (*Submission, error)
	// Submissions lists a study's known submissions, newest status first.
	Submissions(ctx context.Context, studyID string, limit int) ([]Submission, error)

	// ClaimJobs leases up to limit due jobs to owner for lease; a job leased by
	// one caller is invisible to others until the lease ends (across replicas).
	ClaimJobs(ctx context.Context, owner string, limit int, lease time.Duration) ([]Job, error)
	// CompleteJob removes a finished job, or re-arms it after Debounce if more
	// events asked for it while it ran.
	CompleteJob(ctx context.Context, owner string, j Job) error
	// RetryJob releases a failed job to run again at retryAt.
	RetryJob(ctx context.Context, owner string, j Job, retryAt time.Time, reason string) error
	// ApplyStudySnapshot records what the API said about a study.
	ApplyStudySnapshot(ctx context.Context, s StudySnapshot) error
	// SetSubmissionStudy records which study a submission belongs to and, with
	// Enrich, queues a refresh of that study.
	SetSubmissionStudy(ctx context.Context, submissionID, studyID string) error
	// SetSubmissionsStudy is SetSubmissionStudy for several submissions of
	// one study, in one transaction, with one refresh queued.
	SetSubmissionsStudy(ctx context.Context, studyID string, submissionIDs []string) error
	QueueStats(ctx context.Context) (QueueStats, error)
	// EnqueueStudyRefreshes queues a study refresh (JobRefreshStudy), due
	// now, for every study whose status is in statuses ("" matches a study
	// whose status is still unknown) and whose LastEventAt or UpdatedAt is at
	// or after seenSince (zero for all), in one statement. It debounces like
	// Save: a pending job is left alone (its due time neither pushed back nor
	// brought forward), a leased one is marked to run once more. It queues
	// whether or not Options.Enrich is set: it is an explicit request. It
	// returns how many jobs were newly queued or newly marked.
	EnqueueStudyRefreshes(ctx context.Context, statuses []string, seenSince time.Time) (int, error)
	// PruneEvents deletes up to limit stored events whose ReceivedAt is
	// before before, oldest first, together with their aliases, in one
	// transaction, and returns how many events it deleted (limit <= 0
	// deletes none). Projections and jobs are left as they are. A pruned
	// event's X-Event-ID and content are no longer duplicates: delivered
	// again, the event would be stored again (see RunPruner).
	PruneEvents(ctx context.Context, before time.Time, limit int) (int, error)
	// PruneActions deletes up to limit rule actions (the audit rows of
	// docs/rules.md) whose outcome is final and that finished before
	// before, oldest first, and returns how many it deleted (limit <= 0
	// deletes none). Pending actions stay, however old. A pruned action's
	// key is forgotten: decided again, it would be recorded again, as a
	// pruned event would be stored again.
	PruneActions(ctx context.Context, before time.Time, limit int) (int, error)

	// EnqueueJob queues the job (kind, key) due at dueAt. A pending job
	// of that name is kept, its due time brought forward to dueAt if that
	// is sooner; a leased one is marked to run once more (see CompleteJob).
	EnqueueJob(ctx context.Context, kind, key string, dueAt time.Time) error
	// ReconcileMarks returns every mark of kind (MarkSubscription,
	// MarkStudy), keyed by Key.
	ReconcileMarks(ctx context.Context, kind string) (map[string]time.Time, error)
	// SetReconcileMark records mark (kind, key) at at; a mark only moves
	// forward, so an older at leaves a newer mark as it is.
	SetReconcileMark(ctx context.Context, kind, key string, at time.Time) error
	// Outbox holds the rows queued for the outputs.
	Outbox
	// Rules holds the rules engine's decisions and their audit.
	Rules

	// Ping reports whether the database is reachable (readiness).
	Ping(ctx context.Context) error
	// Close flushes pending saves and closes the database.
	Close() error
}
