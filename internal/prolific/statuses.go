package prolific

// StudyStatuses are the study statuses Prolific reports, spelled as it
// spells them, in lifecycle order.
var StudyStatuses = []string{"UNPUBLISHED", "SCHEDULED", "PUBLISHING", "ACTIVE", "PAUSED", "AWAITING REVIEW", "COMPLETED"}

// SubmissionStatuses are the submission statuses Prolific reports, spelled
// as it spells them: a participant's path first, then the ways out.
var SubmissionStatuses = []string{"RESERVED", "ACTIVE", "AWAITING REVIEW", "APPROVED", "PARTIALLY APPROVED",
	"REJECTED", "RETURNED", "TIMED-OUT", "SCREENED OUT"}
