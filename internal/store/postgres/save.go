package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/prolific-receiver/receiver/internal/store"
)

const (
	// commitAttempts is how often a batch is tried when PostgreSQL aborts it
	// for a serialization failure or a deadlock with another replica.
	commitAttempts = 5
	// commitTimeout bounds one batch transaction, so a database that stops
	// answering turns into an error (and a 503) rather than a hung request.
	commitTimeout = 15 * time.Second
)

// commit stores a batch of events in one transaction and returns each
// event's outcome. On success it sets each stored event's Seq and StudyID
// (a study event's own ID, or the study learnt from its submission); on
// error nothing was stored and the events are unchanged.
func (d *DB) commit(ctx context.Context, events []*store.Event) ([]store.Outcome, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	var res *batchResult
	var err error
	for attempt := 1; ; attempt++ {
		res, err = d.commitOnce(ctx, events)
		if err == nil || !retryable(err) || attempt == commitAttempts {
			break
		}
		// Jitter so replicas that deadlocked do not collide again in step.
		backoff := time.Duration(attempt)*5*time.Millisecond + rand.N(10*time.Millisecond)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, fmt.Errorf("commit batch: %w", ctx.Err())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("commit batch: %w", err)
	}
	for i, e := range events {
		if res.outcomes[i] == store.Stored {
			e.Seq = res.seqs[i]
			e.StudyID = res.studyIDs[i]
		}
	}
	return res.outcomes, nil
}

// retryable reports whether err is a transient conflict between concurrent
// transactions that a fresh attempt resolves.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	return false
}

// batchResult is what one successful transaction decided per event, in the
// caller's order.
type batchResult struct {
	outcomes []store.Outcome
	seqs     []int64
	studyIDs []string
}

const insertEventSQL = `INSERT INTO events
	(id, content_hash, type, resource_id, status, participant_id, study_id, event_time, received_at, signature_form, body)
	VALUES ($1, NULLIF($2, ''), $3, $4, $5, $6, $7, $8, $9, $10, $11)
	ON CONFLICT DO NOTHING
	RETURNING seq`

// commitOnce runs one attempt of the batch transaction.
func (d *DB) commitOnce(ctx context.Context, events []*store.Event) (*batchResult, error) {
	now := d.clock()
	res := &batchResult{
		outcomes: make([]store.Outcome, len(events)),
		seqs:     make([]int64, len(events)),
		studyIDs: make([]string, len(events)),
	}
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		subStudy, err := knownStudies(ctx, tx, events)
		if err != nil {
			return err
		}
		aliased, err := knownAliases(ctx, tx, events)
		if err != nil {
			return err
		}
		// Insert in ID order: replicas holding overlapping batches then take
		// the unique-index locks in the same order and rarely deadlock.
		order := make([]int, len(events))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return events[order[a]].ID < events[order[b]].ID })

		b := &pgx.Batch{}
		var inserted []int
		for _, i := range order {
			e := events[i]
			if aliased[e.ID] {
				res.outcomes[i] = store.Duplicate
				continue
			}
			inserted = append(inserted, i)
			studyID := e.StudyID
			switch {
			case studyID != "":
			case store.IsStudyEvent(e.Type):
				studyID = e.ResourceID
			case store.IsSubmissionEvent(e.Type):
				studyID = subStudy[e.ResourceID]
			}
			res.studyIDs[i] = studyID
			body := e.Body
			if body == nil {
				body = []byte{}
			}
			b.Queue(insertEventSQL, e.ID, e.ContentHash, e.Type, e.ResourceID, e.Status, e.ParticipantID,
				studyID, e.EventTime, e.ReceivedAt, e.SignatureForm, body)
		}
		br := tx.SendBatch(ctx, b)
		var conflicts []int
		for _, i := range inserted {
			err := br.QueryRow().Scan(&res.seqs[i])
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				res.outcomes[i] = store.Duplicate
				conflicts = append(conflicts, i)
			case err != nil:
				br.Close()
				return fmt.Errorf("insert event: %w", err)
			default:
				res.outcomes[i] = store.Stored
			}
		}
		if err := br.Close(); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		if err := recordAliases(ctx, tx, events, conflicts, d.opts.AliasLimit()); err != nil {
			return err
		}

		p := newProjection(d.opts.Enrich)
		for i, e := range events {
			if res.outcomes[i] == store.Stored {
				p.add(e, res.studyIDs[i])
			}
		}
		return p.write(ctx, tx, now, now.Add(d.opts.Debounce))
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// knownStudies returns the study of every submission in the batch whose
// study is known, from the table and from the events themselves.
func knownStudies(ctx context.Context, tx pgx.Tx, events []*store.Event) (map[string]string, error) {
	known := map[string]string{}
	var ids []string
	for _, e := range events {
		if store.IsSubmissionEvent(e.Type) {
			ids = append(ids, e.ResourceID)
		}
	}
	if len(ids) == 0 {
		return known, nil
	}
	rows, err := tx.Query(ctx, `SELECT id, study_id FROM submissions WHERE id = ANY($1) AND study_id <> ''`, ids)
	if err != nil {
		return nil, fmt.Errorf("look up submissions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, study string
		if err := rows.Scan(&id, &study); err != nil {
			return nil, fmt.Errorf("look up submissions: %w", err)
		}
		known[id] = study
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up submissions: %w", err)
	}
	for _, e := range events {
		if store.IsSubmissionEvent(e.Type) && e.StudyID != "" && known[e.ResourceID] == "" {
			known[e.ResourceID] = e.StudyID
		}
	}
	return known, nil
}
