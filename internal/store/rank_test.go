package store_test

import (
	"testing"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

func TestStatusRank(t *testing.T) {
	study, sub := prolific.EventStudyStatusChange, prolific.EventSubmissionStatusChange
	tests := []struct {
		eventType, status string
		want              int
	}{
		{study, "UNPUBLISHED", 1},
		{study, "SCHEDULED", 2},
		{study, "PUBLISHING", 3},
		{study, "ACTIVE", 4},
		{study, "PAUSED", 4},
		{study, "AWAITING REVIEW", 5},
		{study, "awaiting_review", 5},
		{study, "COMPLETED", 6},
		{study, "BOGUS", 0},
		{prolific.EventStudyProgressChange, "COMPLETED", 6},
		{sub, "RESERVED", 1},
		{sub, "ACTIVE", 2},
		{sub, "AWAITING REVIEW", 3},
		{sub, "TIMED-OUT", 4},
		{sub, "timed out", 4},
		{sub, "RETURNED", 4},
		{sub, "SCREENED OUT", 4},
		{sub, "APPROVED", 5},
		{sub, "REJECTED", 5},
		{sub, "PARTIALLY APPROVED", 5},
		{sub, "COMPLETED", 0},
		{"other.event", "ACTIVE", 0},
	}
	for _, tc := range tests {
		if got := store.StatusRank(tc.eventType, tc.status); got != tc.want {
			t.Errorf("StatusRank(%q, %q) = %d, want %d", tc.eventType, tc.status, got, tc.want)
		}
	}
}

// TestStatusRankCoversProlificStatuses: every status Prolific lists ranks,
// and a study's ranks never fall along its lifecycle, so the ordering rule
// and the statuses' one home (internal/prolific) agree.
func TestStatusRankCoversProlificStatuses(t *testing.T) {
	prev := 0
	for _, st := range prolific.StudyStatuses {
		r := store.StatusRank(prolific.EventStudyStatusChange, st)
		if r == 0 || r < prev {
			t.Errorf("study status %q ranks %d after %d, want a rank that does not fall", st, r, prev)
		}
		prev = r
	}
	for _, st := range prolific.SubmissionStatuses {
		if r := store.StatusRank(prolific.EventSubmissionStatusChange, st); r == 0 {
			t.Errorf("submission status %q has no rank", st)
		}
	}
}

func TestNormalizeStatus(t *testing.T) {
	tests := []struct{ in, want string }{
		{"AWAITING REVIEW", "AWAITING REVIEW"},
		{"awaiting_review", "AWAITING REVIEW"},
		{" Active ", "ACTIVE"},
		{"TIMED_OUT", "TIMED-OUT"},
		{"timed out", "TIMED-OUT"},
		{"TIMED-OUT", "TIMED-OUT"},
		{"partially_approved", "PARTIALLY APPROVED"},
	}
	for _, tc := range tests {
		if got := store.NormalizeStatus(tc.in); got != tc.want {
			t.Errorf("NormalizeStatus(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEventClassesMatchProlific(t *testing.T) {
	tests := []struct {
		eventType             string
		study, submission     bool
		studyStatus, highRate bool
	}{
		{prolific.EventStudyStatusChange, true, false, true, false},
		{prolific.EventStudyProgressChange, true, false, false, false},
		{prolific.EventStudyHighReturnRate, true, false, false, true},
		{prolific.EventSubmissionStatusChange, false, true, false, false},
		{"study.something.new", false, false, false, false},
	}
	for _, tc := range tests {
		if got := store.IsStudyEvent(tc.eventType); got != tc.study {
			t.Errorf("IsStudyEvent(%q) = %v, want %v", tc.eventType, got, tc.study)
		}
		if got := store.IsSubmissionEvent(tc.eventType); got != tc.submission {
			t.Errorf("IsSubmissionEvent(%q) = %v, want %v", tc.eventType, got, tc.submission)
		}
		if got := store.IsStudyStatusEvent(tc.eventType); got != tc.studyStatus {
			t.Errorf("IsStudyStatusEvent(%q) = %v, want %v", tc.eventType, got, tc.studyStatus)
		}
		if got := store.IsHighReturnRateEvent(tc.eventType); got != tc.highRate {
			t.Errorf("IsHighReturnRateEvent(%q) = %v, want %v", tc.eventType, got, tc.highRate)
		}
	}
}

func TestContentHash(t *testing.T) {
	const want = "1700000000.85149fcd3ce8f32ec4ac5570e3d5b9a99a16ce9a8c4a72254a8c97771c6a8d94" // sha256("1700000000{}")
	got := store.ContentHash("1700000000", []byte("{}"))
	if got != want {
		t.Fatalf("ContentHash = %q, want %q", got, want)
	}
	if other := store.ContentHash("1700000000", []byte("{ }")); other == got {
		t.Errorf("ContentHash ignores the body: both %q", got)
	}
	// Later timestamps sort after earlier ones, so the unique index grows at its end.
	if later := store.ContentHash("1700000001", []byte("{}")); later <= got {
		t.Errorf("ContentHash(1700000001) = %q, want it to sort after %q", later, got)
	}
}
