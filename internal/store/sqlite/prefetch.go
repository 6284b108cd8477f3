package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/prolific-receiver/receiver/internal/store"
)

// prefetch reads, with one query each for the whole batch, which of the
// events' IDs are recorded aliases and the known study of each submission
// the batch mentions. One query per batch instead of two per event is most
// of what group commit saves on statements. The aliases query is skipped
// while the database has never held an alias (DB.mayHaveAliases).
func (w *txWriter) prefetch(aliasesKnown, submissionStudies *sql.Stmt, events []*store.Event) error {
	w.aliases = make(map[string]bool)
	w.subStudies = make(map[string]string)
	ids := make([]string, 0, len(events))
	var subs []string
	for _, e := range events {
		ids = append(ids, e.ID)
		if store.IsSubmissionEvent(e.Type) {
			subs = append(subs, e.ResourceID)
		}
	}
	if w.mayHaveAliases.Load() {
		if err := w.queryIDs(aliasesKnown, ids, func(rows *sql.Rows) error {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			w.aliases[id] = true
			return nil
		}); err != nil {
			return fmt.Errorf("look up aliases: %w", err)
		}
	}
	if len(subs) == 0 {
		return nil
	}
	if err := w.queryIDs(submissionStudies, subs, func(rows *sql.Rows) error {
		var id, study string
		if err := rows.Scan(&id, &study); err != nil {
			return err
		}
		w.subStudies[id] = study
		return nil
	}); err != nil {
		return fmt.Errorf("look up submission studies: %w", err)
	}
	return nil
}

// queryIDs runs stmt with ids as a JSON array and calls row for each row.
func (w *txWriter) queryIDs(stmt *sql.Stmt, ids []string, row func(*sql.Rows) error) error {
	arg, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := stmt.QueryContext(w.ctx, string(arg))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
