package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/backend"
)

// sqlBackfill queues, for an output registered with FromBeginning, every
// stored event its filter passes (an empty JSON array matches any value),
// in stored order. It applies the same rule as store.OutputFilter.Match.
const sqlBackfill = `INSERT INTO outbox (output, event_seq, order_key, created_at, age_from, due_at)
	SELECT ?1, seq, CASE WHEN study_id <> '' THEN study_id ELSE resource_id END, ?2, ?2, ?2
	FROM events
	WHERE (?3 = '[]' OR type IN (SELECT value FROM json_each(?3)))
	  AND (?4 = '[]' OR status IN (SELECT value FROM json_each(?4)))
	  AND (?5 = '[]' OR study_id IN (SELECT value FROM json_each(?5)))
	ORDER BY seq`

// registerOutputs records every configured output not yet known, queueing
// the stored history for those that start from the beginning, in one
// transaction.
func (db *DB) registerOutputs(ctx context.Context) error {
	if err := backend.CheckOutputs(db.opts.Outputs); err != nil {
		return err
	}
	if len(db.opts.Outputs) == 0 {
		return nil
	}
	now := micros(db.opts.Now())
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("register outputs: %w", err)
	}
	defer tx.Rollback()
	for _, o := range db.opts.Outputs {
		res, err := tx.ExecContext(ctx, `INSERT INTO outputs (name, registered_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, o.Name, now)
		if err != nil {
			return fmt.Errorf("register output %q: %w", o.Name, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 || !o.FromBeginning {
			continue
		}
		if _, err := tx.ExecContext(ctx, sqlBackfill, o.Name, now, jsonList(o.Filter.EventTypes),
			jsonList(o.Filter.Statuses), jsonList(o.Filter.StudyIDs)); err != nil {
			return fmt.Errorf("queue stored events for output %q: %w", o.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("register outputs: %w", err)
	}
	return nil
}

// jsonList encodes list as a JSON array ("[]" when empty).
func jsonList(list []string) string {
	if len(list) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(list) // strings always encode
	return string(b)
}

const outboxColumns = `id, output, order_key, event_seq, created_at, age_from, due_at, attempts, last_error, dead_at`

func scanOutbox(row interface{ Scan(...any) error }) (store.OutboxItem, error) {
	var it store.OutboxItem
	var created, ageFrom, due, dead int64
	err := row.Scan(&it.ID, &it.Output, &it.OrderKey, &it.EventSeq, &created, &ageFrom, &due, &it.Attempts, &it.LastError, &dead)
	it.CreatedAt, it.AgeFrom, it.DueAt = fromMicros(created), fromMicros(ageFrom), fromMicros(due)
	if dead != 0 {
		it.DeadAt = fromMicros(dead)
	}
	return it, err
}

// sqlPending walks an output's pending rows in queue order, for
// ClaimOutbox. It runs on the read pool: looking (which, while the
// destination is down, walks every pending row) never holds up the single
// writer, and saves commit meanwhile.
const sqlPending = `SELECT id, order_key, due_at <= ?2 AND (locked_by = '' OR locked_until <= ?2)
	FROM outbox WHERE output = ?1 AND dead_at = 0 ORDER BY id LIMIT ?3`

// sqlClaim leases the rows ClaimOutbox chose, checking again on the writer
// that each is still pending, due and free (the read snapshot may be older).
const sqlClaim = `UPDATE outbox
	SET locked_by = ?1, locked_until = ?2, attempts = attempts + 1
	WHERE id IN (SELECT value FROM json_each(?5))
	  AND dead_at = 0 AND due_at <= ?3 AND (locked_by = '' OR locked_until <= ?3)
	  AND NOT EXISTS (SELECT 1 FROM outputs WHERE name = ?4 AND (paused OR disabled_reason <> ''))
	RETURNING ` + outboxColumns

// ClaimOutbox leases due rows of output to owner (see store.Outbox). With
// ordered, a row is taken only when it is the first pending row of its key
// in queue order: the walk remembers the keys it passed. Only this
// process writes the file (owner), and rows are completed, retried or
// dead-lettered only by their lease holder, so a row chosen as its key's
// first stays so until it is claimed.
func (db *DB) ClaimOutbox(ctx context.Context, output, owner string, n int, lease time.Duration, ordered bool) ([]store.OutboxItem, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	if owner == "" {
		return nil, errors.New("claim outbox: empty owner")
	}
	if n <= 0 {
		return nil, nil
	}
	n = min(n, store.MaxLimit)
	var halted bool
	if err := db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM outputs WHERE name = ? AND (paused OR disabled_reason <> ''))`,
		output).Scan(&halted); err != nil {
		return nil, db.wrap("claim outbox", err)
	}
	if halted {
		return []store.OutboxItem{}, nil
	}
	now := micros(db.opts.Now())
	ids, err := db.claimable(ctx, output, now, n, ordered)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return []store.OutboxItem{}, nil
	}
	list, _ := json.Marshal(ids)
	rows, err := db.write.QueryContext(ctx, sqlClaim, owner, now+lease.Microseconds(), now, output, string(list))
	return db.itemsWithEvents(ctx, "claim outbox", rows, err)
}

// claimable returns up to n rows of output that can be claimed at now.
func (db *DB) claimable(ctx context.Context, output string, now int64, n int, ordered bool) ([]int64, error) {
	rows, err := db.read.QueryContext(ctx, sqlPending, output, now, backend.MaxClaimWalk)
	if err != nil {
		return nil, db.wrap("claim outbox", err)
	}
	defer rows.Close()
	walk := backend.NewClaimWalk(n, ordered)
	for rows.Next() {
		var id int64
		var key string
		var free bool
		if err := rows.Scan(&id, &key, &free); err != nil {
			return nil, db.wrap("claim outbox", err)
		}
		if !walk.Offer(id, key, free) {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("claim outbox", err)
	}
	return walk.IDs, nil
}

// itemsWithEvents reads the outbox rows a query returned (or its error)
// and attaches their events.
func (db *DB) itemsWithEvents(ctx context.Context, op string, rows *sql.Rows, err error) ([]store.OutboxItem, error) {
	if err != nil {
		return nil, db.wrap(op, err)
	}
	items, err := collectOutbox(rows)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	if err := db.attachEvents(ctx, items); err != nil {
		return nil, err
	}
	return items, nil
}

// collectOutbox reads rows of outboxColumns, sorted by ID.
func collectOutbox(rows *sql.Rows) ([]store.OutboxItem, error) {
	defer rows.Close()
	items := []store.OutboxItem{}
	for rows.Next() {
		it, err := scanOutbox(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	backend.SortOutbox(items)
	return items, nil
}

// attachEvents reads the stored event of each item (nil when pruned).
func (db *DB) attachEvents(ctx context.Context, items []store.OutboxItem) error {
	if len(items) == 0 {
		return nil
	}
	seqs := make([]int64, len(items))
	for i, it := range items {
		seqs[i] = it.EventSeq
	}
	b, _ := json.Marshal(seqs)
	rows, err := db.read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE seq IN (SELECT value FROM json_each(?))`, string(b))
	if err != nil {
		return db.wrap("read outbox events", err)
	}
	defer rows.Close()
	bySeq := map[int64]*store.Event{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return db.wrap("read outbox events", err)
		}
		bySeq[e.Seq] = &e
	}
	if err := rows.Err(); err != nil {
		return db.wrap("read outbox events", err)
	}
	for i := range items {
		items[i].Event = bySeq[items[i].EventSeq]
	}
	return nil
}

// CompleteOutbox deletes delivered rows owner holds.
func (db *DB) CompleteOutbox(ctx context.Context, owner string, ids []int64) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	if len(ids) == 0 {
		return nil
	}
	b, _ := json.Marshal(ids)
	if _, err := db.write.ExecContext(ctx, `DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?)) AND locked_by = ?`,
		string(b), owner); err != nil {
		return db.wrap("complete outbox", err)
	}
	return nil
}

// RetryOutbox releases rows owner holds to be tried again, in one
// transaction.
func (db *DB) RetryOutbox(ctx context.Context, owner string, retries []store.OutboxRetry) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	if len(retries) == 0 {
		return nil
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap("retry outbox", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `UPDATE outbox SET locked_by = '', locked_until = 0, due_at = ?, last_error = ?
		WHERE id = ? AND locked_by = ?`)
	if err != nil {
		return db.wrap("retry outbox", err)
	}
	defer stmt.Close()
	for _, r := range retries {
		if _, err := stmt.ExecContext(ctx, micros(r.At), backend.TruncateError(r.Reason), r.ID, owner); err != nil {
			return db.wrap("retry outbox", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return db.wrap("retry outbox", err)
	}
	return nil
}

// DeadLetterOutbox moves a row owner holds to the dead letters.
func (db *DB) DeadLetterOutbox(ctx context.Context, owner string, id int64, reason string) error {
	return db.outboxExec(ctx, "dead-letter outbox", `UPDATE outbox SET locked_by = '', locked_until = 0, dead_at = ?, last_error = ?
		WHERE id = ? AND locked_by = ?`, micros(db.opts.Now()), backend.TruncateError(reason), id, owner)
}

// DisableOutput stops claims of output until it is resumed.
func (db *DB) DisableOutput(ctx context.Context, output, reason string) error {
	return db.outboxExec(ctx, "disable output", `UPDATE outputs SET disabled_reason = ? WHERE name = ?`,
		backend.TruncateError(cmp.Or(strings.TrimSpace(reason), "disabled")), output)
}

// SetOutputPaused pauses or resumes output (resuming clears a disable).
func (db *DB) SetOutputPaused(ctx context.Context, output string, paused bool) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	q := `UPDATE outputs SET paused = 1 WHERE name = ?`
	if !paused {
		q = `UPDATE outputs SET paused = 0, disabled_reason = '' WHERE name = ?`
	}
	res, err := db.write.ExecContext(ctx, q, output)
	if err != nil {
		return db.wrap("pause output", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("output %q: %w", output, store.ErrNotFound)
	}
	return nil
}

// RetryOutput makes output's pending rows, or its dead letters, due now.
func (db *DB) RetryOutput(ctx context.Context, output string, deadLetters bool) (int, error) {
	if db.closed.Load() {
		return 0, store.ErrClosed
	}
	now := micros(db.opts.Now())
	q := `UPDATE outbox SET due_at = ?1 WHERE output = ?2 AND dead_at = 0 AND due_at > ?1`
	if deadLetters {
		q = `UPDATE outbox SET dead_at = 0, due_at = ?1, age_from = ?1, attempts = 0 WHERE output = ?2 AND dead_at <> 0`
	}
	return db.execCount(ctx, "retry output", q, now, output)
}

// OutputStates lists the registered outputs with their row counts.
func (db *DB) OutputStates(ctx context.Context) ([]store.OutputState, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := db.read.QueryContext(ctx, `SELECT name, registered_at, paused, disabled_reason,
		(SELECT count(*) FROM outbox WHERE output = name AND dead_at = 0),
		(SELECT min(created_at) FROM outbox WHERE output = name AND dead_at = 0),
		(SELECT count(*) FROM outbox WHERE output = name AND dead_at <> 0)
		FROM outputs ORDER BY name`)
	if err != nil {
		return nil, db.wrap("output states", err)
	}
	defer rows.Close()
	out := []store.OutputState{}
	for rows.Next() {
		var s store.OutputState
		var registered int64
		var oldest sql.NullInt64
		if err := rows.Scan(&s.Name, &registered, &s.Paused, &s.Disabled, &s.Pending, &oldest, &s.DeadLetters); err != nil {
			return nil, db.wrap("output states", err)
		}
		s.RegisteredAt, s.OldestPending = fromMicros(registered), fromNullMicros(oldest)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("output states", err)
	}
	return out, nil
}

// DeadLetters lists output's dead letters after afterID, oldest first.
func (db *DB) DeadLetters(ctx context.Context, output string, afterID int64, n int) ([]store.OutboxItem, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox
		WHERE output = ? AND dead_at <> 0 AND id > ? ORDER BY id LIMIT ?`, output, afterID, limit(n, store.MaxLimit))
	return db.itemsWithEvents(ctx, "dead letters", rows, err)
}

// outboxExec runs one write of the outbox calls.
func (db *DB) outboxExec(ctx context.Context, op, q string, args ...any) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	if _, err := db.write.ExecContext(ctx, q, args...); err != nil {
		return db.wrap(op, err)
	}
	return nil
}
