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
	"github.com/prolific-receiver/receiver/internal/store/backend"
)

const (
	// commitAttempts is how often a batch is tried when PostgreSQL aborts it
	// for a serialization failure or a deadlock with another replica.
	commitAttempts = 5
	// commitTimeout bounds one batch transaction, so a database that stops
	// answering turns into an error (and a 503) rather than a hung request.
	commitTimeout = 15 * time.Second
	// rollbackTimeout bounds the ROLLBACK after a failed attempt.
	rollbackTimeout = 5 * time.Second
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

// insertEventsSQL inserts a batch's events in one statement, in the
// arrays' order (by ID, see commitOnce), each unless its ID or content is
// stored already (by an earlier row of the statement too) or its ID is a
// recorded alias; only the inserted rows come back, and the caller resolves
// the others, matched back by ID and content hash (an event of the batch
// whose content is stored may share its ID with a later one whose content
// is new). An event's study is its own ($7) when given; for a submission
// event without one ($12) it is the submission's known study, else the one
// learnt from another event of the batch ($13). One statement per batch
// rather than one per event: PostgreSQL's per-statement work (executor
// start and end, the portal, a result per row) cost more than the row.
const insertEventsSQL = `INSERT INTO events
	(id, content_hash, type, resource_id, status, participant_id, study_id, event_time, received_at, signature_form, body, source)
	SELECT u.id, NULLIF(u.hash, ''), u.type, u.rid, u.status, u.pid,
		CASE WHEN u.look
			THEN COALESCE((SELECT s.study_id FROM submissions s WHERE s.id = u.rid AND s.study_id <> ''), u.bstudy)
			ELSE u.study END,
		u.et, u.ra, u.sf, u.body, u.src
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::timestamptz[], $9::timestamptz[], $10::text[], $11::bytea[], $12::boolean[], $13::text[], $14::text[])
		WITH ORDINALITY AS u(id, hash, type, rid, status, pid, study, et, ra, sf, body, look, bstudy, src, n)
	WHERE NOT EXISTS (SELECT 1 FROM event_aliases a WHERE a.id = u.id)
	ORDER BY u.n
	ON CONFLICT DO NOTHING
	RETURNING id, COALESCE(content_hash, ''), seq, study_id`

// commitOnce runs one attempt of the batch transaction in as few round trips
// as it can: BEGIN and the inserts in one pipeline, then, only when some
// insert conflicted, the alias look-ups and inserts, then the projection
// and COMMIT in one pipeline. A statement that fails in a pipeline skips
// the rest of it, COMMIT included; the transaction is then rolled back (or
// the connection discarded by the pool, which never reuses one that is
// inside a transaction).
func (d *DB) commitOnce(ctx context.Context, events []*store.Event) (_ *batchResult, err error) {
	now := d.clock()
	res := &batchResult{
		outcomes: make([]store.Outcome, len(events)),
		seqs:     make([]int64, len(events)),
		studyIDs: make([]string, len(events)),
	}
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	defer func() {
		if err != nil && !conn.Conn().IsClosed() && conn.Conn().PgConn().TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			defer cancel()
			_, _ = conn.Exec(rctx, "ROLLBACK") // on failure Release discards the connection
		}
	}()

	// Insert in ID order: replicas holding overlapping batches then take
	// the unique-index locks in the same order and rarely deadlock.
	order := make([]int, len(events))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return events[order[a]].ID < events[order[b]].ID })
	conflicts, err := readInserts(conn.SendBatch(ctx, insertBatch(events, order)), events, order, res)
	if err != nil {
		return nil, err
	}
	if st := conn.Conn().PgConn().TxStatus(); st != 'T' {
		// Never run the rest outside the transaction BEGIN opened.
		return nil, fmt.Errorf("insert events: transaction status %q after BEGIN, want in transaction", st)
	}
	if err := recordAliases(ctx, conn, events, conflicts, d.opts.AliasLimit()); err != nil {
		return nil, err
	}

	p := backend.NewProjection(d.opts.Enrich)
	for i, e := range events {
		if res.outcomes[i] == store.Stored {
			p.Add(e, res.studyIDs[i])
		}
	}
	b := projectionBatch(p, now, now.Add(d.opts.Debounce))
	if len(d.opts.Outputs) > 0 {
		queueOutbox(b, d.opts.Outputs, events, res, now)
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("apply projection and commit: %w", err)
	}
	if st := conn.Conn().PgConn().TxStatus(); st != 'I' {
		// COMMIT of a failed transaction answers ROLLBACK without an error.
		return nil, fmt.Errorf("commit: transaction status %q after COMMIT", st)
	}
	return res, nil
}

// insertBatch queues BEGIN and the insert of the events, in order.
func insertBatch(events []*store.Event, order []int) *pgx.Batch {
	batchStudy := studiesInBatch(events)
	n := len(order)
	var (
		ids, hashes, types, rids, statuses, pids = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		studies, forms, bstudies, sources        = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		eventTimes, receivedAts                  = make([]time.Time, n), make([]time.Time, n)
		bodies                                   = make([][]byte, n)
		lookUps                                  = make([]bool, n)
	)
	for k, i := range order {
		e := events[i]
		studyID := e.StudyID
		if studyID == "" && store.IsStudyEvent(e.Type) {
			studyID = e.ResourceID
		}
		body := e.Body
		if body == nil {
			body = []byte{}
		}
		ids[k], hashes[k], types[k], rids[k], statuses[k], pids[k] = e.ID, e.ContentHash, e.Type, e.ResourceID, e.Status, e.ParticipantID
		studies[k], forms[k], bstudies[k], sources[k] = studyID, e.SignatureForm, batchStudy[e.ResourceID], store.SourceOf(e)
		eventTimes[k], receivedAts[k], bodies[k] = e.EventTime, e.ReceivedAt, body
		lookUps[k] = studyID == "" && store.IsSubmissionEvent(e.Type)
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(insertEventsSQL, ids, hashes, types, rids, statuses, pids, studies, eventTimes, receivedAts, forms, bodies, lookUps, bstudies, sources)
	return b
}

// readInserts reads the answers of insertBatch into res (each stored
// event's seq and study, Duplicate for the others) and returns the
// indexes of the duplicates. A returned row stands for the event of the
// batch with its ID and content hash; of several such events (the same
// delivery twice), the first in order, as the insert took them in that
// order.
func readInserts(br pgx.BatchResults, events []*store.Event, order []int, res *batchResult) ([]int, error) {
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	type key struct{ id, hash string }
	pos := make(map[key][]int, len(order))
	for _, i := range order {
		k := key{events[i].ID, events[i].ContentHash}
		pos[k] = append(pos[k], i)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("insert events: %w", err)
	}
	var k key
	var seq int64
	var studyID string
	_, err = pgx.ForEachRow(rows, []any{&k.id, &k.hash, &seq, &studyID}, func() error {
		at := pos[k]
		for _, i := range at {
			if res.outcomes[i] != store.Stored {
				res.outcomes[i], res.seqs[i], res.studyIDs[i] = store.Stored, seq, studyID
				return nil
			}
		}
		return fmt.Errorf("insert returned event %d not in the batch", seq)
	})
	if err != nil {
		return nil, fmt.Errorf("insert events: %w", err)
	}
	var conflicts []int
	for _, i := range order {
		if res.outcomes[i] != store.Stored {
			res.outcomes[i] = store.Duplicate
			conflicts = append(conflicts, i)
		}
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("insert events: %w", err)
	}
	return conflicts, nil
}

// studiesInBatch returns, per submission, the study given by one of the
// batch's events (the first that names one), for the batch's other events
// about that submission whose study the table does not know.
func studiesInBatch(events []*store.Event) map[string]string {
	known := map[string]string{}
	for _, e := range events {
		if store.IsSubmissionEvent(e.Type) && e.StudyID != "" && known[e.ResourceID] == "" {
			known[e.ResourceID] = e.StudyID
		}
	}
	return known
}
