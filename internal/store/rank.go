package store

import (
	"strings"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

// Event types the projections understand.
const (
	typeStudyStatus      = prolific.EventStudyStatusChange
	typeStudyProgress    = prolific.EventStudyProgressChange
	typeStudyHighReturns = prolific.EventStudyHighReturnRate
	typeSubmissionStatus = prolific.EventSubmissionStatusChange
)

// MovingStudyStatuses are the study statuses that can still change without
// anyone acting on the study, so a missed webhook could leave them stale;
// "" is a study whose status is still unknown (only progress or submission
// events seen). UNPUBLISHED and COMPLETED studies only move when a
// researcher acts, which sends a webhook of its own. The enrichment sweep
// refreshes them and every reconciliation pass compares them.
var MovingStudyStatuses = []string{"ACTIVE", "PAUSED", "AWAITING REVIEW", "SCHEDULED", "PUBLISHING", ""}

// IsStudyEvent reports whether eventType is one of the study event types the
// projection applies (status change, progress change, high return rate).
func IsStudyEvent(eventType string) bool {
	switch eventType {
	case typeStudyStatus, typeStudyProgress, typeStudyHighReturns:
		return true
	}
	return false
}

// IsSubmissionEvent reports whether eventType is submission.status.change.
func IsSubmissionEvent(eventType string) bool { return eventType == typeSubmissionStatus }

// IsStudyStatusEvent reports whether eventType carries a study status to apply.
func IsStudyStatusEvent(eventType string) bool { return eventType == typeStudyStatus }

// IsHighReturnRateEvent reports whether eventType is study.has_high_return_rate.
func IsHighReturnRateEvent(eventType string) bool { return eventType == typeStudyHighReturns }

var studyRanks = map[string]int{
	"UNPUBLISHED":     1,
	"SCHEDULED":       2,
	"PUBLISHING":      3,
	"ACTIVE":          4,
	"PAUSED":          4,
	"AWAITING REVIEW": 5,
	"COMPLETED":       6,
}

var submissionRanks = map[string]int{
	"RESERVED":           1,
	"ACTIVE":             2,
	"AWAITING REVIEW":    3,
	"TIMED-OUT":          4,
	"RETURNED":           4,
	"SCREENED OUT":       4,
	"APPROVED":           5,
	"REJECTED":           5,
	"PARTIALLY APPROVED": 5,
}

// StatusRank returns status's position in the lifecycle of the resource
// eventType is about: study.* types (and API study snapshots, which pass
// "study.status.change") use the study lifecycle, submission.* types the
// submission lifecycle. It breaks ties between events with equal X-Timestamp
// so a later stage wins. Unknown statuses and event types rank 0. The status
// is normalised first, so "AWAITING_REVIEW" ranks like "AWAITING REVIEW".
func StatusRank(eventType, status string) int {
	s := NormalizeStatus(status)
	switch {
	case strings.HasPrefix(eventType, "study."):
		return studyRanks[s]
	case strings.HasPrefix(eventType, "submission."):
		return submissionRanks[s]
	}
	return 0
}

// NormalizeStatus returns s upper-cased, with underscores as spaces and
// "TIMED OUT" spelled "TIMED-OUT", so a query filter matches however the
// caller spells a status. Stored statuses keep Prolific's spelling.
func NormalizeStatus(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	s = strings.ReplaceAll(s, "_", " ")
	if s == "TIMED OUT" {
		s = "TIMED-OUT"
	}
	return s
}
