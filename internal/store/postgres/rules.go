package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/backend"
)

// rulesCursorName names the evaluator's row in rule_cursor.
const rulesCursorName = "events"

// RulesCursor returns the rules evaluator's place, recording start the
// first time (see store.Rules).
func (d *DB) RulesCursor(ctx context.Context, start int64) (int64, error) {
	if err := d.check(); err != nil {
		return 0, err
	}
	var seq int64
	err := d.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO rule_cursor (name, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING seq)
		SELECT seq FROM ins UNION ALL SELECT seq FROM rule_cursor WHERE name = $1 LIMIT 1`, rulesCursorName, start).Scan(&seq)
	if err != nil {
		return 0, d.wrap("rules cursor", err)
	}
	return seq, nil
}

// Decide records decisions, moving the cursor with them (see store.Rules).
func (d *DB) Decide(ctx context.Context, cursor *store.RuleCursor, ds []store.Decision) (int, error) {
	added, _, err := d.decideAll(ctx, cursor, ds, "", 0)
	return added, err
}

// DecideClaim is Decide leasing the due new actions of decisions with
// Lease set to owner (see store.Rules).
func (d *DB) DecideClaim(ctx context.Context, cursor *store.RuleCursor, ds []store.Decision, owner string, lease time.Duration) ([]store.Action, error) {
	if owner == "" {
		return nil, errors.New("postgres: decide: empty owner")
	}
	_, leased, err := d.decideAll(ctx, cursor, ds, owner, lease)
	return leased, err
}

// decideAll records ds in one transaction, leasing to owner (when set).
func (d *DB) decideAll(ctx context.Context, cursor *store.RuleCursor, ds []store.Decision, owner string, lease time.Duration) (int, []store.Action, error) {
	if err := d.check(); err != nil {
		return 0, nil, err
	}
	added := 0
	var leased []store.Action
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		added, leased = 0, nil
		if cursor != nil {
			tag, err := tx.Exec(ctx, `UPDATE rule_cursor SET seq = $3 WHERE name = $1 AND seq = $2`,
				rulesCursorName, cursor.From, cursor.To)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return store.ErrCursorMoved
			}
		}
		as, err := writeDecisions(ctx, tx, ds, d.clock().Truncate(time.Microsecond).UTC(), owner, lease)
		if err != nil {
			return err
		}
		for _, a := range as {
			if a != nil {
				added++
				if a.Attempts > 0 || a.Outcome != store.ActionPending {
					leased = append(leased, *a)
				}
			}
		}
		return nil
	})
	if errors.Is(err, store.ErrCursorMoved) {
		return 0, nil, err
	}
	if err != nil {
		return 0, nil, d.wrap("decide", err)
	}
	return added, leased, nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v) // string slices always encode
	return string(b)
}

const actionColumns = `id, key, rule, action, study_id, target, batch, event_ids, count, dry_run, detail,
	outcome, reason, request, response, attempts, interrupted, created_at, due_at, updated_at, finished_at`

func scanAction(row pgx.Row) (store.Action, error) {
	var a store.Action
	var ids string
	var finished *time.Time
	err := row.Scan(&a.ID, &a.Key, &a.Rule, &a.Action, &a.StudyID, &a.Target, &a.Batch, &ids, &a.Count, &a.DryRun, &a.Detail,
		&a.Outcome, &a.Reason, &a.Request, &a.Response, &a.Attempts, &a.Interrupted, &a.CreatedAt, &a.DueAt, &a.UpdatedAt, &finished)
	if err != nil {
		return a, err
	}
	_ = json.Unmarshal([]byte(ids), &a.EventIDs)
	a.CreatedAt, a.DueAt, a.UpdatedAt = a.CreatedAt.UTC(), a.DueAt.UTC(), a.UpdatedAt.UTC()
	if finished != nil {
		a.FinishedAt = finished.UTC()
	}
	return a, nil
}

// claimActionsSQL leases due pending actions; SKIP LOCKED lets replicas
// claim at once without taking each other's rows.
const claimActionsSQL = `WITH due AS (
		SELECT id FROM rule_actions
		WHERE outcome = 'pending' AND due_at <= $1 AND (locked_by = '' OR locked_until <= $1)
		ORDER BY due_at, id LIMIT $2
		FOR UPDATE SKIP LOCKED)
	UPDATE rule_actions a SET interrupted = (a.locked_by <> ''), locked_by = $3, locked_until = $4,
		attempts = a.attempts + 1, updated_at = $1
	FROM due WHERE a.id = due.id
	RETURNING ` + "a.id, a.key, a.rule, a.action, a.study_id, a.target, a.batch, a.event_ids, a.count, a.dry_run, a.detail, " +
	"a.outcome, a.reason, a.request, a.response, a.attempts, a.interrupted, a.created_at, a.due_at, a.updated_at, a.finished_at"

// ClaimActions leases due pending actions to owner (see store.Rules).
func (d *DB) ClaimActions(ctx context.Context, owner string, n int, lease time.Duration) ([]store.Action, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if owner == "" {
		return nil, errors.New("postgres: claim actions: empty owner")
	}
	if n <= 0 {
		return nil, nil
	}
	now := d.clock()
	rows, err := d.pool.Query(ctx, claimActionsSQL, now, min(n, store.MaxLimit), owner, now.Add(lease))
	if err != nil {
		return nil, d.wrap("claim actions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Action, error) { return scanAction(r) })
	if err != nil {
		return nil, d.wrap("claim actions", err)
	}
	store.SortActionsDue(out)
	return out, nil
}

// FinishActions records what became of actions owner holds.
func (d *DB) FinishActions(ctx context.Context, owner string, results []store.ActionResult) error {
	if err := d.check(); err != nil {
		return err
	}
	now := d.clock()
	groups, err := store.GroupActionResults(results)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	b := &pgx.Batch{}
	for _, g := range groups {
		b.Queue(`UPDATE rule_actions
			SET outcome = $1, reason = $2, request = $3, response = $4, finished_at = $5, updated_at = $5, locked_by = '', locked_until = NULL
			WHERE id = ANY($6) AND locked_by = $7 AND outcome = 'pending'`,
			g.Outcome, backend.TruncateError(g.Reason), backend.TruncateError(g.Request), backend.TruncateError(g.Response), now, g.IDs, owner)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() }); err != nil {
		return d.wrap("finish actions", err)
	}
	return nil
}

// RetryActions releases actions owner holds, due again at at.
func (d *DB) RetryActions(ctx context.Context, owner string, ids []int64, at time.Time, reason string) error {
	if err := d.check(); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := d.pool.Exec(ctx, `UPDATE rule_actions
		SET due_at = $1, reason = $2, updated_at = $3, locked_by = '', locked_until = NULL
		WHERE id = ANY($4) AND locked_by = $5 AND outcome = 'pending'`,
		pgTime(at), backend.TruncateError(reason), d.clock(), ids, owner)
	if err != nil {
		return d.wrap("retry actions", err)
	}
	return nil
}

// Actions lists actions newest first (see store.ActionFilter).
func (d *DB) Actions(ctx context.Context, f store.ActionFilter) ([]store.Action, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	before := f.BeforeID
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := d.pool.Query(ctx, `SELECT `+actionColumns+` FROM rule_actions
		WHERE id < $1 AND ($2 = '' OR rule = $2) AND ($3 = '' OR study_id = $3) AND ($4 = '' OR outcome = $4)
		ORDER BY id DESC LIMIT $5`, before, f.Rule, f.StudyID, f.Outcome, store.ActionLimit(f.Limit))
	if err != nil {
		return nil, d.wrap("list actions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Action, error) { return scanAction(r) })
	if err != nil {
		return nil, d.wrap("list actions", err)
	}
	if out == nil {
		out = []store.Action{}
	}
	return out, nil
}

// ForwardEvent queues a stored event for output (see store.Rules).
func (d *DB) ForwardEvent(ctx context.Context, output string, seq int64) error {
	if err := d.check(); err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `INSERT INTO outbox (output, event_seq, order_key, created_at, age_from, due_at)
		SELECT $1, seq, CASE WHEN study_id <> '' THEN study_id ELSE resource_id END, $2, $2, $2 FROM events WHERE seq = $3`,
		output, d.clock(), seq)
	if err != nil {
		return d.wrap("forward event", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: forward event %d: %w", seq, store.ErrNotFound)
	}
	return nil
}
