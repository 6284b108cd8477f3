package prolific

// Study statuses, spelled as Prolific spells them (webhooks.md §4.1).
const (
	StudyUnpublished    = "UNPUBLISHED"
	StudyScheduled      = "SCHEDULED"
	StudyPublishing     = "PUBLISHING"
	StudyActive         = "ACTIVE"
	StudyPaused         = "PAUSED"
	StudyAwaitingReview = "AWAITING REVIEW"
	StudyCompleted      = "COMPLETED"
)

// Submission statuses, spelled as Prolific spells them (webhooks.md §4.2).
const (
	SubmissionReserved          = "RESERVED"
	SubmissionActive            = "ACTIVE"
	SubmissionAwaitingReview    = "AWAITING REVIEW"
	SubmissionApproved          = "APPROVED"
	SubmissionPartiallyApproved = "PARTIALLY APPROVED"
	SubmissionRejected          = "REJECTED"
	SubmissionReturned          = "RETURNED"
	SubmissionTimedOut          = "TIMED-OUT"
	SubmissionScreenedOut       = "SCREENED OUT"
)

// StudyStatuses are the study statuses Prolific reports, in lifecycle order.
var StudyStatuses = []string{StudyUnpublished, StudyScheduled, StudyPublishing, StudyActive, StudyPaused,
	StudyAwaitingReview, StudyCompleted}

// SubmissionStatuses are the submission statuses Prolific reports: a
// participant's path first, then the ways out.
var SubmissionStatuses = []string{SubmissionReserved, SubmissionActive, SubmissionAwaitingReview, SubmissionApproved,
	SubmissionPartiallyApproved, SubmissionRejected, SubmissionReturned, SubmissionTimedOut, SubmissionScreenedOut}
