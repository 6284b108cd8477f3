package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/prolific-receiver/receiver/internal/store"
)

// Statements of the duplicate path (docs/store.md "Save"), prepared with the
// others on the write connection.
const (
	sqlAliasesKnown = `SELECT id FROM event_aliases WHERE id IN (SELECT value FROM json_each(?))`
	sqlEventByID    = `SELECT count(*) FROM events WHERE id = ?`
	sqlEventByHash  = `SELECT id FROM events WHERE content_hash = ?`

	// sqlInsertAlias records ?1 as an alias of event ?2 unless that event
	// already has ?4 aliases. The single writer makes count-then-insert safe.
	sqlInsertAlias = `INSERT INTO event_aliases (id, event_id, received_at)
		SELECT ?1, ?2, ?3
		WHERE (SELECT count(*) FROM event_aliases WHERE event_id = ?2) < ?4
		ON CONFLICT DO NOTHING`
)

// duplicate handles an event whose insert hit an existing key: an existing
// ID is a plain duplicate; a new ID whose content matches a stored event
// (in the table or earlier in this batch) becomes an alias of that event,
// within the alias cap. Either way the outcome is Duplicate and nothing else
// changes.
func (w *txWriter) duplicate(e *store.Event) (store.Outcome, error) {
	var n int
	if err := w.eventByID.QueryRowContext(w.ctx, e.ID).Scan(&n); err != nil {
		return 0, fmt.Errorf("look up duplicate: %w", err)
	}
	if n > 0 {
		return store.Duplicate, nil
	}
	var target string
	err := w.eventByHash.QueryRowContext(w.ctx, e.ContentHash).Scan(&target)
	if errors.Is(err, sql.ErrNoRows) {
		// The insert conflicted on neither key we know: never answer
		// "duplicate" for an event that is stored nowhere.
		return 0, errors.New("insert conflicted but no event holds its ID or content")
	}
	if err != nil {
		return 0, fmt.Errorf("look up duplicate content: %w", err)
	}
	w.mayHaveAliases.Store(true) // before the row exists: see DB.mayHaveAliases
	res, err := w.insertAlias.ExecContext(w.ctx, e.ID, target, micros(e.ReceivedAt), w.opts.AliasLimit())
	if err != nil {
		return 0, fmt.Errorf("insert alias: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		w.aliases[e.ID] = true
	}
	return store.Duplicate, nil
}

// loadAliases sets mayHaveAliases from the file, at open.
func (db *DB) loadAliases(ctx context.Context) error {
	var aliases bool
	if err := db.write.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM event_aliases)`).Scan(&aliases); err != nil {
		return fmt.Errorf("look for aliases: %w", err)
	}
	db.mayHaveAliases.Store(aliases)
	return nil
}
