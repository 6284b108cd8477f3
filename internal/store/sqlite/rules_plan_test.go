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

// TestPruneActionsPlanIsBounded: the hourly prune of rule actions walks
// them by ID only up to the first one created after the cutoff (the
// rowid bound), so a table of young actions is not read whole on the
// writer connection each hour.
func TestPruneActionsPlanIsBounded(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "r.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := explain(t, db, sqlPruneActions, 1, 10)
	if !strings.Contains(got, "SEARCH rule_actions USING INTEGER PRIMARY KEY (rowid<?)") {
		t.Fatalf("prune plan = %q; want the candidates searched below a rowid bound", got)
	}
}
