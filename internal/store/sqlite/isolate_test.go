package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// TestIsolatable classifies real SQLite errors: a constraint violation is
// isolated, a closed database and errors from elsewhere are not.
func TestIsolatable(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL CHECK (n > 0))`); err != nil {
		t.Fatal(err)
	}
	_, unique := db.ExecContext(ctx, `INSERT INTO t VALUES ('a', 1), ('a', 2)`)
	_, check := db.ExecContext(ctx, `INSERT INTO t VALUES ('b', 0)`)
	_, notNull := db.ExecContext(ctx, `INSERT INTO t VALUES ('c', NULL)`)
	db.Close()
	_, closed := db.ExecContext(ctx, `INSERT INTO t VALUES ('d', 1)`)

	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"unique", unique, true},
		{"check, wrapped", fmt.Errorf("event %q: %w", "x", check), true},
		{"not null", notNull, true},
		{"closed database", closed, false},
		{"deadline", context.DeadlineExceeded, false},
		{"plain", errors.New("disk on fire"), false},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: statement succeeded, want an error to classify", tt.name)
			continue
		}
		if got := isolatable(tt.err); got != tt.want {
			t.Errorf("isolatable(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
