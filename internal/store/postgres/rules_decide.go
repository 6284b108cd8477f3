package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/backend"
)

// writeDecisions records ds in tx at now, returning each one's new action
// (nil: merged into a digest, or its key recorded already), leased to
// owner when it asks for a lease and is due.
func writeDecisions(ctx context.Context, tx pgx.Tx, ds []store.Decision, now time.Time, owner string, lease time.Duration) ([]*store.Action, error) {
	// One pipelined batch for the page's writes: a busy page holds a
	// hundred decisions, and a round trip each was most of deciding's
	// cost. A digest first reads its group's newest row, all groups in
	// one more batch before it (one by one when a group repeats in the
	// page, since then one decision's row is the next one's newest).
	// Digests' rows have a digest group and the others none, so the
	// writes of the two kinds do not meet; the results keep the
	// decisions' order.
	as := make([]*store.Action, len(ds))
	var batch pgx.Batch
	var reads []func(pgx.BatchResults) error
	insert := func(i int, in *pendingInsert) {
		in.queue(&batch)
		reads = append(reads, func(br pgx.BatchResults) (err error) {
			as[i], err = in.result(br.QueryRow())
			return err
		})
	}
	digests, err := newestOfGroups(ctx, tx, ds)
	if err != nil {
		return nil, err
	}
	for i, dc := range ds {
		if dc.Digest <= 0 {
			in, err := newInsert(dc, dc.Key, dueAt(dc, now), now, owner, lease)
			if err != nil {
				return nil, err
			}
			insert(i, in)
			continue
		}
		last, ok := digests[i]
		if !ok { // a group that repeats in the page
			if as[i], err = decideDigest(ctx, tx, dc, now, owner, lease); err != nil {
				return nil, err
			}
			continue
		}
		merge, in, err := digestStep(dc, last, now, owner, lease)
		switch {
		case err != nil:
			return nil, err
		case merge != nil:
			batch.Queue(digestMergeSQL, merge...)
			reads = append(reads, func(br pgx.BatchResults) error { _, err := br.Exec(); return err })
		default:
			insert(i, in)
		}
	}
	if len(reads) > 0 {
		br := tx.SendBatch(ctx, &batch)
		for _, read := range reads {
			if err := read(br); err != nil {
				br.Close()
				return nil, err
			}
		}
		if err := br.Close(); err != nil {
			return nil, err
		}
	}
	return as, nil
}

const (
	digestLastSQL = `SELECT id, due_at, outcome, locked_by, attempts, event_ids
		FROM rule_actions WHERE digest_group = $1 AND digest_group <> '' ORDER BY id DESC LIMIT 1 FOR UPDATE`
	digestMergeSQL = `UPDATE rule_actions SET count = count + $1, event_ids = $2, detail = $3, updated_at = $4 WHERE id = $5`
)

// digestLast is a digest group's newest action, as a decision reads it.
type digestLast struct {
	found             bool
	id                int64
	due               time.Time
	outcome, lockedBy string
	attempts          int
	idsJSON           string
}

func scanDigestLast(row pgx.Row) (digestLast, error) {
	var l digestLast
	err := row.Scan(&l.id, &l.due, &l.outcome, &l.lockedBy, &l.attempts, &l.idsJSON)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, nil
	}
	l.found = err == nil
	return l, err
}

// newestOfGroups reads, locked, the newest action of each digest decision's
// group in ds, in one batch, by the decision's index; a group that more than
// one decision names is left out (decideDigest reads it in turn).
func newestOfGroups(ctx context.Context, tx pgx.Tx, ds []store.Decision) (map[int]digestLast, error) {
	seen := map[string]int{}
	for _, dc := range ds {
		if dc.Digest > 0 {
			seen[dc.DigestGroup]++
		}
	}
	var b pgx.Batch
	var at []int
	for i, dc := range ds {
		if dc.Digest > 0 && seen[dc.DigestGroup] == 1 {
			b.Queue(digestLastSQL, dc.DigestGroup)
			at = append(at, i)
		}
	}
	out := make(map[int]digestLast, len(at))
	if len(at) == 0 {
		return out, nil
	}
	br := tx.SendBatch(ctx, &b)
	for _, i := range at {
		l, err := scanDigestLast(br.QueryRow())
		if err != nil {
			br.Close()
			return nil, err
		}
		out[i] = l
	}
	return out, br.Close()
}

// dueAt is when dc's action falls due: its DueAt, else now.
func dueAt(dc store.Decision, now time.Time) time.Time {
	if dc.DueAt.IsZero() {
		return now
	}
	return pgTime(dc.DueAt)
}

// digestStep is what the digest decision dc writes, given its group's
// newest action: the arguments of digestMergeSQL while that action is
// still waiting, else a new action, due no sooner than dc.Digest after it.
func digestStep(dc store.Decision, last digestLast, now time.Time, owner string, lease time.Duration) ([]any, *pendingInsert, error) {
	due := dueAt(dc, now)
	switch {
	case !last.found:
	case store.DigestMergeable(last.outcome, last.attempts, last.lockedBy):
		var ids []string
		_ = json.Unmarshal([]byte(last.idsJSON), &ids)
		return []any{max(dc.Count, 1), mustJSON(store.MergeEventIDs(ids, dc.EventIDs)), dc.Detail, now, last.id}, nil, nil
	default:
		due = store.DigestDue(due, last.due.UTC(), dc.Digest)
	}
	in, err := newInsert(dc, store.DigestKey(dc.DigestGroup, due), due, now, owner, lease)
	return nil, in, err
}

// decideDigest records the digest decision dc on its own, reading its
// group's newest action first (see digestStep).
func decideDigest(ctx context.Context, tx pgx.Tx, dc store.Decision, now time.Time, owner string, lease time.Duration) (*store.Action, error) {
	last, err := scanDigestLast(tx.QueryRow(ctx, digestLastSQL, dc.DigestGroup))
	if err != nil {
		return nil, err
	}
	merge, in, err := digestStep(dc, last, now, owner, lease)
	switch {
	case err != nil:
		return nil, err
	case merge != nil:
		_, err := tx.Exec(ctx, digestMergeSQL, merge...)
		return nil, err
	}
	return in.result(tx.QueryRow(ctx, insertActionSQL, in.args...))
}

const insertActionSQL = `INSERT INTO rule_actions (key, digest_group, rule, action, study_id, target, batch,
		event_ids, count, dry_run, detail, created_at, due_at, updated_at, locked_by, locked_until, attempts,
		outcome, reason, request, response, finished_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $12, $14, $15, $16, $17, $18, $19, $20, $21)
	ON CONFLICT (key) DO NOTHING RETURNING id`

// pendingInsert is a decision's new action, to insert with args.
type pendingInsert struct {
	dc       store.Decision
	key      string
	ids      []string
	due, now time.Time
	attempts int
	reason   string
	request  string
	response string
	args     []any
}

// newInsert prepares the insert of dc's action under key, due at due,
// leased to owner (Attempts 1) when owner is set, dc asks for
// it and it is due, or recorded finished when dc is settled.
func newInsert(dc store.Decision, key string, due, now time.Time, owner string, lease time.Duration) (*pendingInsert, error) {
	if key == "" {
		return nil, errors.New("decision without a key")
	}
	outcome, reason, request, response, settled := backend.Settled(dc)
	var lockedBy string
	var lockedUntil, finished *time.Time
	attempts := 0
	switch {
	case settled:
		finished = &now
	case owner != "" && dc.Lease && !due.After(now):
		until := now.Add(lease)
		lockedBy, lockedUntil, attempts = owner, &until, 1
	}
	ids := store.MergeEventIDs(nil, dc.EventIDs)
	return &pendingInsert{dc: dc, key: key, ids: ids, due: due, now: now, attempts: attempts,
		reason: reason, request: request, response: response,
		args: []any{key, dc.DigestGroup, dc.Rule, dc.Action, dc.StudyID, dc.Target, dc.Batch,
			mustJSON(ids), max(dc.Count, 1), dc.DryRun, dc.Detail, now, due, lockedBy, lockedUntil, attempts,
			outcome, reason, request, response, finished}}, nil
}

func (in *pendingInsert) queue(b *pgx.Batch) { b.Queue(insertActionSQL, in.args...) }

// result reads the insert's answer: the new action, or nil when its key
// was recorded already.
func (in *pendingInsert) result(row pgx.Row) (*store.Action, error) {
	var id int64
	err := row.Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a := store.LeasedAction(in.dc, in.key, id, in.ids, in.due, in.now)
	a.Attempts = in.attempts
	a.Reason, a.Request, a.Response = in.reason, in.request, in.response
	return &a, nil
}
