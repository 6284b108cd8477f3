package backend

import (
	"fmt"
	"slices"
	"testing"

	"github.com/prolific-receiver/receiver/internal/store"
)

// TestFeedMatchSQLMerges checks that entries with the same types and
// sources become one term with the union of their statuses, and that an
// entry naming no status makes its term match any status.
func TestFeedMatchSQLMerges(t *testing.T) {
	sub, study := []string{"submission.status.change"}, []string{"study.status.change"}
	ms := []store.EventMatch{
		{Types: sub, Statuses: []string{"APPROVED"}},
		{Types: study, Statuses: []string{"COMPLETED"}},
		{Types: sub, Statuses: []string{"AWAITING REVIEW"}},
		{Types: sub, Statuses: []string{"RETURNED", "APPROVED"}},
		{Sources: []string{"reconcile"}},
		{Types: study},
		{Types: study, Statuses: []string{"PAUSED"}},
	}
	var args []any
	got := FeedMatchSQL(ms, func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) })
	want := "((type IN ($1) AND status IN ($2, $3, $4)) OR (type IN ($5)) OR (source IN ($6)))"
	if got != want {
		t.Errorf("FeedMatchSQL =\n %s\nwant\n %s", got, want)
	}
	wantArgs := []any{"submission.status.change", "APPROVED", "AWAITING REVIEW", "RETURNED", "study.status.change", "reconcile"}
	if !slices.Equal(args, wantArgs) {
		t.Errorf("args = %v, want %v", args, wantArgs)
	}
	if ms[0].Statuses[0] != "APPROVED" || len(ms[0].Statuses) != 1 {
		t.Errorf("the caller's matches were changed: %+v", ms[0])
	}
	if got := FeedMatchSQL([]store.EventMatch{{Types: sub}, {}}, func(any) string { return "?" }); got != "" {
		t.Errorf("an entry matching every event gave %q, want no condition", got)
	}
}
