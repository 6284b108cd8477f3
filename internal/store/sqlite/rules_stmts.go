package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// The rules engine's statements (rules.go) and the change feed's
// (read.go, feedmem.go), prepared once when the store opens: each of them
// runs every evaluation page or action pass, and preparing one anew each
// time (what a query with its text does) was about a tenth of the
// engine's CPU.
const (
	sqlMoveRulesCursor = `UPDATE rule_cursor SET seq = ?3 WHERE name = ?1 AND seq = ?2`
	sqlDigestMerge     = `UPDATE rule_actions SET count = count + ?, event_ids = ?, detail = ?, updated_at = ? WHERE id = ?`
	sqlClaimActions    = `UPDATE rule_actions
		SET interrupted = (locked_by <> ''), locked_by = ?1, locked_until = ?2, attempts = attempts + 1, updated_at = ?3
		WHERE id IN (SELECT id FROM rule_actions
			WHERE outcome = 'pending' AND due_at <= ?3 AND (locked_by = '' OR locked_until <= ?3)
			ORDER BY due_at, id LIMIT ?4)
		RETURNING ` + actionColumns
	sqlFinishActions = `UPDATE rule_actions
		SET outcome = ?1, reason = ?2, request = ?3, response = ?4, finished_at = ?5, updated_at = ?5, locked_by = '', locked_until = 0
		WHERE id IN (SELECT value FROM json_each(?6)) AND locked_by = ?7 AND outcome = 'pending'`
	sqlRetryActions = `UPDATE rule_actions
		SET due_at = ?1, reason = ?2, updated_at = ?3, locked_by = '', locked_until = 0
		WHERE id IN (SELECT value FROM json_each(?4)) AND locked_by = ?5 AND outcome = 'pending'`
	sqlFeedBound   = `SELECT coalesce(max(seq), 0) FROM events`
	sqlFeedStudies = `SELECT id, study_id FROM submissions WHERE id IN (SELECT value FROM json_each(?)) AND study_id <> ''`
)

type ruleStatements struct {
	// on the writer
	moveCursor, insertAction, digestLast, digestMerge, claim, finish, retry *sql.Stmt
	// on the read pool
	feedBound, feedStudies *sql.Stmt
}

func prepareRules(ctx context.Context, write, read *sql.DB) (*ruleStatements, error) {
	s := &ruleStatements{}
	err := prepareAll(ctx, []stmtSpec{
		{write, &s.moveCursor, sqlMoveRulesCursor},
		{write, &s.insertAction, sqlInsertAction},
		{write, &s.digestLast, sqlDigestLast},
		{write, &s.digestMerge, sqlDigestMerge},
		{write, &s.claim, sqlClaimActions},
		{write, &s.finish, sqlFinishActions},
		{write, &s.retry, sqlRetryActions},
		{read, &s.feedBound, sqlFeedBound},
		{read, &s.feedStudies, sqlFeedStudies},
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *ruleStatements) close() {
	if s != nil {
		closeAll(s.moveCursor, s.insertAction, s.digestLast, s.digestMerge, s.claim, s.finish, s.retry,
			s.feedBound, s.feedStudies)
	}
}

// stmtSpec is a statement to prepare: on db, into dst.
type stmtSpec struct {
	db  *sql.DB
	dst **sql.Stmt
	sql string
}

// prepareAll prepares every spec, or none: on an error it closes those it
// prepared.
func prepareAll(ctx context.Context, specs []stmtSpec) error {
	for i, p := range specs {
		stmt, err := p.db.PrepareContext(ctx, p.sql)
		if err != nil {
			for _, q := range specs[:i] {
				closeAll(*q.dst)
			}
			return fmt.Errorf("prepare: %w", err)
		}
		*p.dst = stmt
	}
	return nil
}

// closeAll closes the statements that were prepared.
func closeAll(stmts ...*sql.Stmt) {
	for _, st := range stmts {
		if st != nil {
			st.Close()
		}
	}
}
