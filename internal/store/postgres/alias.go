package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/backend"
)

// aliasLockClass is the first key of the advisory lock taken per stored
// event before adding aliases to it (the second is a hash of its ID), so
// replicas count that event's aliases one at a time and the cap holds.
const aliasLockClass = 0x616c_6961 // "alia"

// conflictSQL tells, for an event whose insert hit an existing key, whether
// its ID is taken (a plain duplicate) and which stored event holds its content.
const conflictSQL = `SELECT
	EXISTS (SELECT 1 FROM events WHERE id = $1) OR EXISTS (SELECT 1 FROM event_aliases WHERE id = $1),
	(SELECT id FROM events WHERE content_hash = NULLIF($2, ''))`

// insertAliasSQL records $1 as an alias of event $2 unless that event has $4
// aliases already; run under the event's advisory lock, the count is exact.
const insertAliasSQL = `INSERT INTO event_aliases (id, event_id, received_at)
	SELECT $1, $2, $3 WHERE (SELECT count(*) FROM event_aliases WHERE event_id = $2) < $4
	ON CONFLICT (id) DO NOTHING`

// batchSender is a transaction or a connection inside one: what sends a
// pipeline of statements.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// alias is one delivery to record as an alias of a stored event.
type alias struct {
	id, eventID string
	receivedAt  time.Time
}

// recordAliases resolves the events (indexes into events) whose insert hit
// an existing key: an ID already stored is a plain duplicate; a new ID
// whose content matches a stored event (committed, or earlier in this
// transaction) becomes an alias of it, within limit aliases per event.
func recordAliases(ctx context.Context, tx batchSender, events []*store.Event, conflicts []int, limit int) error {
	if len(conflicts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, i := range conflicts {
		b.Queue(conflictSQL, events[i].ID, events[i].ContentHash)
	}
	br := tx.SendBatch(ctx, b)
	var aliases []alias
	for _, i := range conflicts {
		var known bool
		var target *string
		if err := br.QueryRow().Scan(&known, &target); err != nil {
			br.Close()
			return fmt.Errorf("look up duplicate: %w", err)
		}
		switch {
		case known:
		case target == nil:
			br.Close()
			// Never answer "duplicate" for an event stored nowhere.
			return errors.New("insert conflicted but no event holds its ID or content")
		default:
			aliases = append(aliases, alias{id: events[i].ID, eventID: *target, receivedAt: events[i].ReceivedAt})
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("look up duplicates: %w", err)
	}
	if len(aliases) == 0 {
		return nil
	}

	// Lock the target events in one order, so two transactions aliasing
	// the same events wait for each other instead of deadlocking.
	targets := map[string]bool{}
	for _, a := range aliases {
		targets[a.eventID] = true
	}
	b = &pgx.Batch{}
	for _, id := range backend.SortedKeys(targets) {
		b.Queue(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, aliasLockClass, id)
	}
	sort.SliceStable(aliases, func(x, y int) bool { return aliases[x].id < aliases[y].id })
	for _, a := range aliases {
		b.Queue(insertAliasSQL, a.id, a.eventID, a.receivedAt, limit)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("record aliases: %w", err)
	}
	return nil
}
