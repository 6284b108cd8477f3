package sqlite

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/prolific-receiver/receiver/internal/store"
)

// TestDigestLastUsesIndex: a digest decision reads its group's newest row
// inside the write transaction, so it must search rule_actions_group, not
// scan the table (a scan per decision cost the webhook path most of its
// throughput with a digest rule under load).
func TestDigestLastUsesIndex(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "r.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := explain(t, db, sqlDigestLast, "review-digest/notify/s1")
	if !strings.Contains(got, "rule_actions_group") || strings.Contains(got, "SCAN rule_actions") {
		t.Fatalf("digest lookup plan = %q; want a search of rule_actions_group", got)
	}
}
