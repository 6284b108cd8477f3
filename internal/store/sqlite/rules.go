package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/backend"
)

// rulesCursorName names the evaluator's row in rule_cursor.
const rulesCursorName = "events"

// RulesCursor returns the rules evaluator's place, recording start the
// first time (see store.Rules).
func (db *DB) RulesCursor(ctx context.Context, start int64) (int64, error) {
	if db.closed.Load() {
		return 0, store.ErrClosed
	}
	if _, err := db.write.ExecContext(ctx, `INSERT INTO rule_cursor (name, seq) VALUES (?, ?) ON CONFLICT DO NOTHING`,
		rulesCursorName, start); err != nil {
		return 0, db.wrap("rules cursor", err)
	}
	var seq int64
	if err := db.write.QueryRowContext(ctx, `SELECT seq FROM rule_cursor WHERE name = ?`, rulesCursorName).Scan(&seq); err != nil {
		return 0, db.wrap("rules cursor", err)
	}
	return seq, nil
}

// Decide records decisions, moving the cursor with them (see store.Rules).
func (db *DB) Decide(ctx context.Context, cursor *store.RuleCursor, ds []store.Decision) (int, error) {
	added, _, err := db.decideAll(ctx, cursor, ds, nil)
	return added, err
}

// DecideClaim is Decide leasing the due new actions of decisions with
// Lease set to owner (see store.Rules).
func (db *DB) DecideClaim(ctx context.Context, cursor *store.RuleCursor, ds []store.Decision, owner string, lease time.Duration) ([]store.Action, error) {
	if owner == "" {
		return nil, errors.New("decide: empty owner")
	}
	_, leased, err := db.decideAll(ctx, cursor, ds, &leaseTo{owner: owner, lease: lease})
	return leased, err
}

// leaseTo is who DecideClaim leases new actions to, and for how long.
type leaseTo struct {
	owner string
	lease time.Duration
}

// decideAll records ds in one transaction on the single writer connection
// (an immediate transaction: the cursor check and the inserts are one step).
func (db *DB) decideAll(ctx context.Context, cursor *store.RuleCursor, ds []store.Decision, lt *leaseTo) (int, []store.Action, error) {
	if db.closed.Load() {
		return 0, nil, store.ErrClosed
	}
	conn, tx, handle, err := db.begin(ctx)
	if err != nil {
		return 0, nil, db.wrap("decide", err)
	}
	defer conn.Close()
	defer tx.Rollback()
	if cursor != nil {
		res, err := tx.StmtContext(ctx, db.rules.moveCursor).ExecContext(ctx, rulesCursorName, cursor.From, cursor.To)
		if err != nil {
			return 0, nil, db.wrap("decide: move cursor", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return 0, nil, store.ErrCursorMoved
		}
	}
	now := fromMicros(micros(db.opts.Now()))
	added := 0
	var leased []store.Action
	hot, ins := db.hotExec(ctx, handle), tx.StmtContext(ctx, db.rules.insertAction)
	for _, d := range ds {
		a, err := db.decide(ctx, tx, hot, ins, d, now, lt)
		if err != nil {
			return 0, nil, db.wrap("decide", err)
		}
		if a != nil {
			added++
			if a.Attempts > 0 || a.Outcome != store.ActionPending {
				leased = append(leased, *a)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, nil, db.wrap("decide: commit", err)
	}
	return added, leased, nil
}

// sqlDigestLast reads a digest group's newest row. The "<> ”" repeats the
// partial index's condition so SQLite may use rule_actions_group: without
// it a bound parameter cannot prove the condition, and every digest decision
// scanned the whole table inside the write transaction (TestDigestLastUsesIndex).
const sqlDigestLast = `SELECT id, due_at, outcome, locked_by, attempts, count, event_ids
	FROM rule_actions WHERE digest_group = ? AND digest_group <> '' ORDER BY id DESC LIMIT 1`

// sqlInsertAction records a decision unless its key is recorded already,
// leased at once when locked_by is set (DecideClaim).
const sqlInsertAction = `INSERT INTO rule_actions (key, digest_group, rule, action, study_id, target, batch,
			event_ids, count, dry_run, detail, created_at, due_at, updated_at, locked_by, locked_until, attempts,
			outcome, reason, request, response, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`

// decide records d, returning the new action (nil when d was merged into
// a digest or its key was recorded already); it is leased (Attempts 1)
// when lt is set, d asks for it and it is due. Its INSERT runs through hot
// (ins, the transaction's statement, without a raw handle).
func (db *DB) decide(ctx context.Context, tx *sql.Tx, hot hotExec, ins *sql.Stmt, d store.Decision, now time.Time, lt *leaseTo) (*store.Action, error) {
	due := fromMicros(micros(d.DueAt))
	if d.DueAt.IsZero() {
		due = now
	}
	key := d.Key
	if d.Digest > 0 {
		var (
			id, prevDue       int64
			outcome, lockedBy string
			attempts, count   int
			idsJSON           string
		)
		err := tx.StmtContext(ctx, db.rules.digestLast).QueryRowContext(ctx, d.DigestGroup).
			Scan(&id, &prevDue, &outcome, &lockedBy, &attempts, &count, &idsJSON)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, err
		case store.DigestMergeable(outcome, attempts, lockedBy):
			var ids []string
			_ = json.Unmarshal([]byte(idsJSON), &ids)
			_, err := tx.StmtContext(ctx, db.rules.digestMerge).ExecContext(ctx, max(d.Count, 1), mustJSON(store.MergeEventIDs(ids, d.EventIDs)), d.Detail, micros(now), id)
			return nil, err
		default:
			due = store.DigestDue(due, fromMicros(prevDue), d.Digest)
		}
		key = store.DigestKey(d.DigestGroup, due)
	}
	if key == "" {
		return nil, errors.New("decision without a key")
	}
	outcome, reason, request, response, settled := backend.Settled(d)
	lockedBy, lockedUntil, attempts, finished := "", int64(0), 0, int64(0)
	switch {
	case settled:
		finished = micros(now)
	case lt != nil && d.Lease && !due.After(now):
		lockedBy, lockedUntil, attempts = lt.owner, micros(now.Add(lt.lease)), 1
	}
	ids := store.MergeEventIDs(nil, d.EventIDs)
	dryRun := int64(0)
	if d.DryRun {
		dryRun = 1
	}
	id, err := hot.insert(rawInsertAction, ins, text(key), text(d.DigestGroup), text(d.Rule), text(d.Action), text(d.StudyID), text(d.Target), text(d.Batch),
		text(mustJSON(ids)), integer(int64(max(d.Count, 1))), integer(dryRun), text(d.Detail), integer(micros(now)), integer(micros(due)),
		integer(micros(now)), text(lockedBy), integer(lockedUntil), integer(int64(attempts)),
		text(outcome), text(reason), text(request), text(response), integer(finished))
	if err != nil || id == 0 {
		return nil, err // id 0: the key is recorded already
	}
	a := store.LeasedAction(d, key, id, ids, due, now)
	a.Attempts = attempts
	a.Reason, a.Request, a.Response = reason, request, response
	return &a, nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v) // string slices always encode
	return string(b)
}

const actionColumns = `id, key, rule, action, study_id, target, batch, event_ids, count, dry_run, detail,
	outcome, reason, request, response, attempts, interrupted, created_at, due_at, updated_at, finished_at`

func scanAction(row interface{ Scan(...any) error }) (store.Action, error) {
	var a store.Action
	var ids string
	var created, due, updated, finished int64
	err := row.Scan(&a.ID, &a.Key, &a.Rule, &a.Action, &a.StudyID, &a.Target, &a.Batch, &ids, &a.Count, &a.DryRun, &a.Detail,
		&a.Outcome, &a.Reason, &a.Request, &a.Response, &a.Attempts, &a.Interrupted, &created, &due, &updated, &finished)
	if err != nil {
		return a, err
	}
	_ = json.Unmarshal([]byte(ids), &a.EventIDs)
	a.CreatedAt, a.DueAt, a.UpdatedAt = fromMicros(created), fromMicros(due), fromMicros(updated)
	if finished != 0 {
		a.FinishedAt = fromMicros(finished)
	}
	return a, nil
}

// ClaimActions leases due pending actions to owner (see store.Rules). An
// action whose previous lease ran out is marked Interrupted.
func (db *DB) ClaimActions(ctx context.Context, owner string, n int, lease time.Duration) ([]store.Action, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	if owner == "" {
		return nil, errors.New("claim actions: empty owner")
	}
	if n <= 0 {
		return nil, nil
	}
	now := micros(db.opts.Now())
	rows, err := db.rules.claim.QueryContext(ctx, owner, now+lease.Microseconds(), now, min(n, store.MaxLimit))
	if err != nil {
		return nil, db.wrap("claim actions", err)
	}
	defer rows.Close()
	var out []store.Action
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, db.wrap("claim actions", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("claim actions", err)
	}
	store.SortActionsDue(out)
	return out, nil
}

// FinishActions records what became of actions owner holds.
func (db *DB) FinishActions(ctx context.Context, owner string, results []store.ActionResult) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	now := micros(db.opts.Now())
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap("finish actions", err)
	}
	defer tx.Rollback()
	groups, err := store.GroupActionResults(results)
	if err != nil {
		return err
	}
	finish := tx.StmtContext(ctx, db.rules.finish)
	for _, g := range groups {
		if _, err := finish.ExecContext(ctx, g.Outcome, backend.TruncateError(g.Reason), backend.TruncateError(g.Request), backend.TruncateError(g.Response),
			now, mustJSON(g.IDs), owner); err != nil {
			return db.wrap("finish actions", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return db.wrap("finish actions", err)
	}
	return nil
}

// RetryActions releases actions owner holds, due again at at.
func (db *DB) RetryActions(ctx context.Context, owner string, ids []int64, at time.Time, reason string) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	if len(ids) == 0 {
		return nil
	}
	b, _ := json.Marshal(ids)
	_, err := db.rules.retry.ExecContext(ctx, micros(at), backend.TruncateError(reason), micros(db.opts.Now()), string(b), owner)
	return db.wrapNil("retry actions", err)
}

// Actions lists actions newest first (see store.ActionFilter).
func (db *DB) Actions(ctx context.Context, f store.ActionFilter) ([]store.Action, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	before := f.BeforeID
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+actionColumns+` FROM rule_actions
		WHERE id < ?1 AND (?2 = '' OR rule = ?2) AND (?3 = '' OR study_id = ?3) AND (?4 = '' OR outcome = ?4)
		ORDER BY id DESC LIMIT ?5`, before, f.Rule, f.StudyID, f.Outcome, store.ActionLimit(f.Limit))
	if err != nil {
		return nil, db.wrap("list actions", err)
	}
	defer rows.Close()
	out := []store.Action{}
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, db.wrap("list actions", err)
		}
		out = append(out, a)
	}
	return out, db.wrapNil("list actions", rows.Err())
}

func (db *DB) wrapNil(op string, err error) error {
	if err == nil {
		return nil
	}
	return db.wrap(op, err)
}

// ForwardEvent queues a stored event for output (see store.Rules).
func (db *DB) ForwardEvent(ctx context.Context, output string, seq int64) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	now := micros(db.opts.Now())
	res, err := db.write.ExecContext(ctx, `INSERT INTO outbox (output, event_seq, order_key, created_at, age_from, due_at)
		SELECT ?1, seq, CASE WHEN study_id <> '' THEN study_id ELSE resource_id END, ?2, ?2, ?2 FROM events WHERE seq = ?3`,
		output, now, seq)
	if err != nil {
		return db.wrap("forward event", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("forward event %d: %w", seq, store.ErrNotFound)
	}
	return nil
}
