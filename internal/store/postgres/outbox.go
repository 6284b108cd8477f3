package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/backend"
)

// insertOutboxSQL queues a batch's outbox rows in one statement, in the
// arrays' order (the batch's stored order).
const insertOutboxSQL = `INSERT INTO outbox (output, event_seq, order_key, created_at, age_from, due_at)
	SELECT o, s, k, $4, $4, $4 FROM unnest($1::text[], $2::bigint[], $3::text[]) WITH ORDINALITY AS r(o, s, k, n)
	ORDER BY n`

// queueOutbox adds to b, inside the batch's transaction, the outbox rows of
// the batch's stored events: no round trip of its own.
func queueOutbox(b *pgx.Batch, outputs []store.Output, events []*store.Event, res *batchResult, now time.Time) {
	var rows []backend.OutboxRow
	for i, e := range events {
		if res.outcomes[i] != store.Stored {
			continue
		}
		stored := *e
		stored.Seq = res.seqs[i]
		rows = backend.OutboxRows(rows, outputs, &stored, res.studyIDs[i])
	}
	if len(rows) == 0 {
		return
	}
	names := make([]string, len(rows))
	seqs := make([]int64, len(rows))
	keys := make([]string, len(rows))
	for i, r := range rows {
		names[i], seqs[i], keys[i] = r.Output, r.EventSeq, r.OrderKey
	}
	b.Queue(insertOutboxSQL, names, seqs, keys, now)
}

// backfillSQL queues, for an output registered with FromBeginning, every
// stored event its filter passes (an empty array matches any value), in
// stored order: the rule of store.OutputFilter.Match.
const backfillSQL = `INSERT INTO outbox (output, event_seq, order_key, created_at, age_from, due_at)
	SELECT $1, seq, CASE WHEN study_id <> '' THEN study_id ELSE resource_id END, $2, $2, $2
	FROM events
	WHERE (cardinality($3::text[]) = 0 OR type = ANY($3))
	  AND (cardinality($4::text[]) = 0 OR status = ANY($4))
	  AND (cardinality($5::text[]) = 0 OR study_id = ANY($5))
	ORDER BY seq`

// registerOutputs records every configured output not yet known, queueing
// the stored history for those that start from the beginning, in one
// transaction. A replica that registers concurrently waits on the name's
// key and then finds it registered.
func (d *DB) registerOutputs(ctx context.Context) error {
	if err := backend.CheckOutputs(d.opts.Outputs); err != nil {
		return err
	}
	if len(d.opts.Outputs) == 0 {
		return nil
	}
	now := d.clock()
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		for _, o := range d.opts.Outputs {
			tag, err := tx.Exec(ctx, `INSERT INTO outputs (name, registered_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, o.Name, now)
			if err != nil {
				return fmt.Errorf("register output %q: %w", o.Name, err)
			}
			if tag.RowsAffected() == 0 || !o.FromBeginning {
				continue
			}
			f := o.Filter
			if _, err := tx.Exec(ctx, backfillSQL, o.Name, now, list(f.EventTypes), list(f.Statuses), list(f.StudyIDs)); err != nil {
				return fmt.Errorf("queue stored events for output %q: %w", o.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// list returns l, never nil (a nil slice is a NULL array).
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// outboxEventColumns are the columns of the row's event (NULL when pruned).
const outboxEventColumns = `e.seq IS NOT NULL, e.seq, e.id, COALESCE(e.content_hash, ''), e.type, e.resource_id,
	e.status, e.participant_id, e.study_id, e.event_time, e.received_at, e.signature_form, e.body`

const outboxColumns = `o.id, o.output, o.order_key, o.event_seq, o.created_at, o.age_from, o.due_at, o.attempts, o.last_error, o.dead_at`

// pendingSQL walks an output's pending rows in queue order (the primary
// key) for ClaimOutbox: each row's order key and whether it is free now.
const pendingSQL = `SELECT id, order_key, due_at <= $2 AND (locked_until IS NULL OR locked_until <= $2)
	FROM outbox WHERE output = $1 AND dead_at IS NULL ORDER BY id LIMIT $3`

// claimOutboxSQL leases the rows the walk picked, as claimSQL does jobs:
// each is checked again (still pending, due and free, the output neither
// paused nor disabled), and SKIP LOCKED lets replicas claim concurrently
// without double-claiming: a row another transaction just leased is
// re-checked after its commit and no longer matches. The stored events
// come back in the same statement.
const claimOutboxSQL = `WITH due AS (
		SELECT id FROM outbox o
		WHERE o.id = ANY($5) AND o.dead_at IS NULL AND o.due_at <= $1 AND (o.locked_until IS NULL OR o.locked_until <= $1)
		  AND NOT EXISTS (SELECT 1 FROM outputs WHERE name = $2 AND (paused OR disabled_reason <> ''))
		FOR UPDATE SKIP LOCKED
	), claimed AS (
		UPDATE outbox o SET locked_by = $3, locked_until = $4, attempts = o.attempts + 1
		FROM due WHERE o.id = due.id
		RETURNING o.*
	)
	SELECT ` + outboxColumns + `, ` + outboxEventColumns + `
	FROM claimed o LEFT JOIN events e ON e.seq = o.event_seq ORDER BY o.id`

// ClaimOutbox leases due rows of output to owner (see store.Outbox): a
// walk of the pending rows in queue order picks them (backend.ClaimWalk,
// which keeps the order per key), then one statement leases those still
// free. A row picked as its key's first stays so until it is claimed: only
// its lease holder completes, retries or dead-letters it.
func (d *DB) ClaimOutbox(ctx context.Context, output, owner string, n int, lease time.Duration, ordered bool) ([]store.OutboxItem, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if owner == "" {
		return nil, errors.New("postgres: claim outbox: empty owner")
	}
	if n <= 0 {
		return []store.OutboxItem{}, nil
	}
	now := d.clock()
	rows, err := d.pool.Query(ctx, pendingSQL, output, now, backend.MaxClaimWalk)
	if err != nil {
		return nil, d.wrap("claim outbox", err)
	}
	walk := backend.NewClaimWalk(min(n, store.MaxLimit), ordered)
	for rows.Next() {
		var id int64
		var key string
		var free bool
		if err := rows.Scan(&id, &key, &free); err != nil {
			rows.Close()
			return nil, d.wrap("claim outbox", err)
		}
		if !walk.Offer(id, key, free) {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, d.wrap("claim outbox", err)
	}
	if len(walk.IDs) == 0 {
		return []store.OutboxItem{}, nil
	}
	rows, err = d.pool.Query(ctx, claimOutboxSQL, now, output, owner, now.Add(lease), walk.IDs)
	if err != nil {
		return nil, d.wrap("claim outbox", err)
	}
	items, err := pgx.CollectRows(rows, scanOutboxEvent)
	if err != nil {
		return nil, d.wrap("claim outbox", err)
	}
	return items, nil
}

// scanOutboxEvent reads outboxColumns, whether the event exists, and the
// event's columns (NULL when pruned).
func scanOutboxEvent(r pgx.CollectableRow) (store.OutboxItem, error) {
	var it store.OutboxItem
	var dead *time.Time
	var found bool
	var e struct {
		seq                                                          *int64
		id, hash, typ, resource, status, participant, study, sigForm *string
		eventTime, receivedAt                                        *time.Time
		body                                                         []byte
	}
	err := r.Scan(&it.ID, &it.Output, &it.OrderKey, &it.EventSeq, &it.CreatedAt, &it.AgeFrom, &it.DueAt, &it.Attempts,
		&it.LastError, &dead, &found, &e.seq, &e.id, &e.hash, &e.typ, &e.resource, &e.status, &e.participant, &e.study,
		&e.eventTime, &e.receivedAt, &e.sigForm, &e.body)
	if err != nil {
		return it, err
	}
	it.CreatedAt, it.AgeFrom, it.DueAt, it.DeadAt = it.CreatedAt.UTC(), it.AgeFrom.UTC(), it.DueAt.UTC(), utc(dead)
	if found {
		it.Event = &store.Event{Seq: *e.seq, ID: *e.id, ContentHash: *e.hash, Type: *e.typ, ResourceID: *e.resource,
			Status: *e.status, ParticipantID: *e.participant, StudyID: *e.study, EventTime: e.eventTime.UTC(),
			ReceivedAt: e.receivedAt.UTC(), SignatureForm: *e.sigForm, Body: e.body}
	}
	return it, nil
}

// CompleteOutbox deletes delivered rows owner holds.
func (d *DB) CompleteOutbox(ctx context.Context, owner string, ids []int64) error {
	if len(ids) == 0 {
		return d.check()
	}
	return d.exec(ctx, "complete outbox", `DELETE FROM outbox WHERE id = ANY($1) AND locked_by = $2`, ids, owner)
}

// RetryOutbox releases rows owner holds to be tried again, in one
// statement.
func (d *DB) RetryOutbox(ctx context.Context, owner string, retries []store.OutboxRetry) error {
	if len(retries) == 0 {
		return d.check()
	}
	ids := make([]int64, len(retries))
	ats := make([]time.Time, len(retries))
	reasons := make([]string, len(retries))
	for i, r := range retries {
		ids[i], ats[i], reasons[i] = r.ID, r.At, backend.TruncateError(r.Reason)
	}
	return d.exec(ctx, "retry outbox", `UPDATE outbox o SET locked_by = '', locked_until = NULL, due_at = r.at, last_error = r.reason
		FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS r(id, at, reason)
		WHERE o.id = r.id AND o.locked_by = $4`, ids, ats, reasons, owner)
}

// DeadLetterOutbox moves a row owner holds to the dead letters.
func (d *DB) DeadLetterOutbox(ctx context.Context, owner string, id int64, reason string) error {
	return d.exec(ctx, "dead-letter outbox", `UPDATE outbox SET locked_by = '', locked_until = NULL, dead_at = $3, last_error = $4
		WHERE id = $1 AND locked_by = $2`, id, owner, d.clock(), backend.TruncateError(reason))
}

// DisableOutput stops claims of output until it is resumed.
func (d *DB) DisableOutput(ctx context.Context, output, reason string) error {
	return d.exec(ctx, "disable output", `UPDATE outputs SET disabled_reason = $2 WHERE name = $1`,
		output, backend.TruncateError(cmp.Or(strings.TrimSpace(reason), "disabled")))
}

// SetOutputPaused pauses or resumes output (resuming clears a disable).
func (d *DB) SetOutputPaused(ctx context.Context, output string, paused bool) error {
	if err := d.check(); err != nil {
		return err
	}
	q := `UPDATE outputs SET paused = TRUE WHERE name = $1`
	if !paused {
		q = `UPDATE outputs SET paused = FALSE, disabled_reason = '' WHERE name = $1`
	}
	tag, err := d.pool.Exec(ctx, q, output)
	if err != nil {
		return d.wrap("pause output", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: output %q: %w", output, store.ErrNotFound)
	}
	return nil
}

// RetryOutput makes output's pending rows, or its dead letters, due now.
func (d *DB) RetryOutput(ctx context.Context, output string, deadLetters bool) (int, error) {
	if err := d.check(); err != nil {
		return 0, err
	}
	q := `UPDATE outbox SET due_at = $1 WHERE output = $2 AND dead_at IS NULL AND due_at > $1`
	if deadLetters {
		q = `UPDATE outbox SET dead_at = NULL, due_at = $1, age_from = $1, attempts = 0 WHERE output = $2 AND dead_at IS NOT NULL`
	}
	tag, err := d.pool.Exec(ctx, q, d.clock(), output)
	if err != nil {
		return 0, d.wrap("retry output", err)
	}
	return int(tag.RowsAffected()), nil
}

// OutputStates lists the registered outputs with their row counts.
func (d *DB) OutputStates(ctx context.Context) ([]store.OutputState, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	rows, err := d.pool.Query(ctx, `SELECT name, registered_at, paused, disabled_reason,
		(SELECT count(*) FROM outbox WHERE output = name AND dead_at IS NULL),
		(SELECT min(created_at) FROM outbox WHERE output = name AND dead_at IS NULL),
		(SELECT count(*) FROM outbox WHERE output = name AND dead_at IS NOT NULL)
		FROM outputs ORDER BY name`)
	if err != nil {
		return nil, d.wrap("output states", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.OutputState, error) {
		var s store.OutputState
		var oldest *time.Time
		err := r.Scan(&s.Name, &s.RegisteredAt, &s.Paused, &s.Disabled, &s.Pending, &oldest, &s.DeadLetters)
		s.RegisteredAt, s.OldestPending = s.RegisteredAt.UTC(), utc(oldest)
		return s, err
	})
	if err != nil {
		return nil, d.wrap("output states", err)
	}
	return out, nil
}

// DeadLetters lists output's dead letters after afterID, oldest first.
func (d *DB) DeadLetters(ctx context.Context, output string, afterID int64, n int) ([]store.OutboxItem, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	rows, err := d.pool.Query(ctx, `SELECT `+outboxColumns+`, `+outboxEventColumns+`
		FROM outbox o LEFT JOIN events e ON e.seq = o.event_seq
		WHERE o.output = $1 AND o.dead_at IS NOT NULL AND o.id > $2 ORDER BY o.id LIMIT $3`,
		output, afterID, limit(n, store.MaxLimit))
	if err != nil {
		return nil, d.wrap("dead letters", err)
	}
	items, err := pgx.CollectRows(rows, scanOutboxEvent)
	if err != nil {
		return nil, d.wrap("dead letters", err)
	}
	return items, nil
}

// exec runs one write of the outbox calls.
func (d *DB) exec(ctx context.Context, op, q string, args ...any) error {
	if err := d.check(); err != nil {
		return err
	}
	if _, err := d.pool.Exec(ctx, q, args...); err != nil {
		return d.wrap(op, err)
	}
	return nil
}
