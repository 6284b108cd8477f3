package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/backend"
)

// Statements the commit path runs, prepared once on the single write
// connection. The two look-ups run once per batch, for all its events (a
// JSON array of IDs), rather than once per event.
//
// The writes say OR FAIL: with the default (ABORT) a statement that may
// fail a NOT NULL check opens a statement journal and copies every page it
// touches there first, so that it alone can be undone. The commit path never
// needs that: any error rolls back the whole batch transaction. Each
// statement writes one row, after its checks, so FAIL leaves nothing half
// done either.
const (
	sqlSubmissionStudies = `SELECT id, study_id FROM submissions
		WHERE id IN (SELECT value FROM json_each(?)) AND study_id <> ''`

	sqlInsertEvent = `INSERT OR FAIL INTO events
		(id, type, resource_id, status, participant_id, study_id, event_time, received_at, signature_form, content_hash, body, source)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`

	// sqlUpsertStudy applies a batch's folded effect on one study
	// (backend.StudyDelta; status_at NULL: no status to apply). The status
	// moves only when (status_at, status_rank) is newer (docs/store.md
	// "Ordering").
	sqlUpsertStudy = `INSERT OR FAIL INTO studies
		(id, status, status_rank, status_at, high_return_rate_events, last_event_at, updated_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
		ON CONFLICT (id) DO UPDATE SET
		status = CASE WHEN ` + studyNewer + ` THEN excluded.status ELSE studies.status END,
		status_rank = CASE WHEN ` + studyNewer + ` THEN excluded.status_rank ELSE studies.status_rank END,
		status_at = CASE WHEN ` + studyNewer + ` THEN excluded.status_at ELSE studies.status_at END,
		high_return_rate_events = studies.high_return_rate_events + excluded.high_return_rate_events,
		last_event_at = CASE WHEN studies.last_event_at IS NULL OR excluded.last_event_at > studies.last_event_at
			THEN excluded.last_event_at ELSE studies.last_event_at END,
		updated_at = excluded.updated_at`

	studyNewer = `(excluded.status_at IS NOT NULL AND (studies.status_at IS NULL OR
		(excluded.status_at, excluded.status_rank) > (studies.status_at, studies.status_rank)))`

	sqlUpsertSubmission = `INSERT OR FAIL INTO submissions
		(id, study_id, participant_id, status, status_rank, status_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
		study_id = CASE WHEN submissions.study_id = '' THEN excluded.study_id ELSE submissions.study_id END,
		participant_id = CASE WHEN excluded.participant_id <> '' THEN excluded.participant_id ELSE submissions.participant_id END,
		status = CASE WHEN ` + submissionNewer + ` THEN excluded.status ELSE submissions.status END,
		status_rank = CASE WHEN ` + submissionNewer + ` THEN excluded.status_rank ELSE submissions.status_rank END,
		status_at = CASE WHEN ` + submissionNewer + ` THEN excluded.status_at ELSE submissions.status_at END,
		updated_at = excluded.updated_at`

	submissionNewer = `(excluded.status_at IS NOT NULL AND (submissions.status_at IS NULL OR
		(excluded.status_at, excluded.status_rank) > (submissions.status_at, submissions.status_rank)))`

	// sqlEnqueue queues a job, debounced: a pending job is left alone (its due
	// time is not pushed back); a leased one is marked to run once more.
	sqlEnqueue = `INSERT INTO jobs (kind, key, due_at, created_at)
		VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (kind, key) DO UPDATE SET requeue = 1
		WHERE jobs.locked_by <> '' AND jobs.locked_until > ?5`

	// sqlInsertOutbox queues a batch's outbox rows (docs/outputs.md), a
	// JSON array of backend.OutboxRow in stored order, in one statement.
	sqlInsertOutbox = `INSERT OR FAIL INTO outbox (output, event_seq, order_key, created_at, age_from, due_at)
		VALUES (?1, ?2, ?3, ?4, ?4, ?4)`
)

type statements struct {
	submissionStudies, insertEvent, upsertStudy, upsertSubmission, enqueue *sql.Stmt
	aliasesKnown, eventByID, eventByHash, insertAlias                      *sql.Stmt
	insertOutbox                                                           *sql.Stmt
}

func prepare(ctx context.Context, db *sql.DB) (*statements, error) {
	s := &statements{}
	err := prepareAll(ctx, []stmtSpec{
		{db, &s.submissionStudies, sqlSubmissionStudies},
		{db, &s.insertEvent, sqlInsertEvent},
		{db, &s.upsertStudy, sqlUpsertStudy},
		{db, &s.upsertSubmission, sqlUpsertSubmission},
		{db, &s.enqueue, sqlEnqueue},
		{db, &s.aliasesKnown, sqlAliasesKnown},
		{db, &s.eventByID, sqlEventByID},
		{db, &s.eventByHash, sqlEventByHash},
		{db, &s.insertAlias, sqlInsertAlias},
		{db, &s.insertOutbox, sqlInsertOutbox},
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *statements) close() {
	if s != nil {
		closeAll(s.submissionStudies, s.insertEvent, s.upsertStudy, s.upsertSubmission, s.enqueue,
			s.aliasesKnown, s.eventByID, s.eventByHash, s.insertAlias, s.insertOutbox)
	}
}

// commit is the Batcher's CommitFunc: one transaction for the whole batch,
// events processed in order. On error nothing is committed and the events'
// Seq and StudyID are restored.
func (db *DB) commit(ctx context.Context, events []*store.Event) (_ []store.Outcome, err error) {
	type saved struct {
		seq     int64
		studyID string
	}
	if err := db.failed(); err != nil {
		return nil, err // stays failed: see failure.go
	}
	wal := db.wal()
	if wal != nil {
		if err := wal.syncFailed(); err != nil {
			return nil, db.fail(err) // stays failed: see syncTo
		}
	}
	defer func() {
		if err != nil {
			err = db.classify(err)
		} else {
			db.diskFull.Store(false)
		}
	}()
	orig := make([]saved, len(events))
	for i, e := range events {
		orig[i] = saved{e.Seq, e.StudyID}
	}
	defer func() {
		if err != nil {
			for i, e := range events {
				e.Seq, e.StudyID = orig[i].seq, orig[i].studyID
			}
		}
	}()

	if db.ckpt.restartDue() {
		// Never while a failed fsync may have left a hole in the log (the
		// restart's own fsync would succeed and the copy go past it).
		db.whileHealthy(wal, func() {
			if err := db.ckpt.restart(ctx, db.write); err != nil {
				db.classify(err)
			}
		})
		if err := db.failed(); err != nil {
			return nil, err
		}
	}
	conn, tx, handle, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	defer tx.Rollback()
	// Before any insert: a submission's study this batch teaches moves
	// the counter past what its events record (feedmem.go).
	learnt := db.recent.learnt.Load()
	w := db.newTxWriter(ctx, tx)
	w.hot = db.hotExec(ctx, handle)
	if err := w.prefetch(tx.StmtContext(ctx, db.stmts.aliasesKnown), tx.StmtContext(ctx, db.stmts.submissionStudies), events); err != nil {
		return nil, err
	}
	out := make([]store.Outcome, len(events))
	for i, e := range events {
		if out[i], err = w.save(e); err != nil {
			return nil, fmt.Errorf("event %q: %w", e.ID, err)
		}
	}
	keyed, err := db.finishBatch(ctx, tx, w, newestSeq(events, out))
	if err != nil {
		return nil, err
	}
	if err := commitTx(tx, wal); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	if keyed > 0 {
		db.keysDone.Store(keyed)
	}
	db.ckpt.committed()
	db.recent.add(events, out, learnt)
	return out, nil
}

// finishBatch writes a batch's projection (w.finish) and, when their turn
// has come, the keys of the events without them (keyEvents, whose result it
// returns).
func (db *DB) finishBatch(ctx context.Context, tx *sql.Tx, w *txWriter, newest int64) (int64, error) {
	if err := w.finish(); err != nil {
		return 0, err
	}
	return db.keyEvents(ctx, tx, newest)
}

// newestSeq returns the highest seq among the stored events (0: none).
func newestSeq(events []*store.Event, out []store.Outcome) int64 {
	var n int64
	for i, e := range events {
		if out[i] == store.Stored {
			n = max(n, e.Seq)
		}
	}
	return n
}

// begin starts a batch's transaction on the write connection, which it
// holds until the caller closes conn, and returns the connection's SQLite
// handle for rawWriter (0: the hot statements go through database/sql).
func (db *DB) begin(ctx context.Context) (*sql.Conn, *sql.Tx, uintptr, error) {
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("begin: %w", err)
	}
	var handle uintptr
	if db.ins != nil {
		if err := conn.Raw(func(dc any) error { handle = rawHandle(dc); return nil }); err != nil {
			handle = 0
		}
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, nil, 0, fmt.Errorf("begin: %w", err)
	}
	return conn, tx, handle, nil
}

// hotExec runs a write transaction's hot statements through rawWriter on
// handle, or through database/sql when handle is 0 (see begin).
func (db *DB) hotExec(ctx context.Context, handle uintptr) hotExec {
	if handle == 0 {
		return hotExec{ctx: ctx}
	}
	return hotExec{ctx: ctx, raw: db.ins, handle: handle}
}

// newTxWriter prepares the statements of one write transaction.
func (db *DB) newTxWriter(ctx context.Context, tx *sql.Tx) *txWriter {
	w := &txWriter{
		ctx:              ctx,
		now:              db.opts.Now(),
		opts:             db.opts,
		insertEvent:      tx.StmtContext(ctx, db.stmts.insertEvent),
		upsertStudy:      tx.StmtContext(ctx, db.stmts.upsertStudy),
		upsertSubmission: tx.StmtContext(ctx, db.stmts.upsertSubmission),
		enqueue:          tx.StmtContext(ctx, db.stmts.enqueue),
		eventByID:        tx.StmtContext(ctx, db.stmts.eventByID),
		eventByHash:      tx.StmtContext(ctx, db.stmts.eventByHash),
		insertAlias:      tx.StmtContext(ctx, db.stmts.insertAlias),
		mayHaveAliases:   &db.mayHaveAliases,
		recent:           &db.recent,
		proj:             backend.NewProjection(db.opts.Enrich),
	}
	if len(db.opts.Outputs) > 0 {
		w.insertOutbox = tx.StmtContext(ctx, db.stmts.insertOutbox)
	}
	return w
}

// txWriter applies events inside one write transaction.
type txWriter struct {
	ctx  context.Context
	now  time.Time
	opts store.Options

	insertEvent, upsertStudy, upsertSubmission, enqueue *sql.Stmt
	eventByID, eventByHash, insertAlias                 *sql.Stmt
	mayHaveAliases                                      *atomic.Bool
	recent                                              *recentFeed
	insertOutbox                                        *sql.Stmt // nil without outputs

	// hot runs the events INSERT and the projection upserts: through
	// rawWriter on the transaction's connection when it can, else through
	// insertEvent, upsertSubmission and upsertStudy (rawwrite.go).
	hot hotExec

	// What the database holds for the batch's IDs, read once before the
	// first event and kept current as the batch writes: the event IDs that
	// are aliases, and the known study of each submission.
	aliases    map[string]bool
	subStudies map[string]string

	// The batch's effect on studies, submissions and jobs, written once
	// per row by finish.
	proj *backend.Projection
	// The outbox rows of the batch's stored events, in stored order.
	outbox []backend.OutboxRow
}

func (w *txWriter) save(e *store.Event) (store.Outcome, error) {
	// An ID already recorded as an alias is a redelivery of that alias,
	// whatever its content now (a retry may carry a new request timestamp).
	if w.aliases[e.ID] {
		return store.Duplicate, nil
	}
	switch {
	case store.IsStudyEvent(e.Type) && e.StudyID == "":
		e.StudyID = e.ResourceID
	case store.IsSubmissionEvent(e.Type) && e.StudyID == "":
		e.StudyID = w.subStudies[e.ResourceID]
	}
	body := e.Body
	if body == nil {
		body = []byte{}
	}
	inserted, seq, err := w.insert(e, body)
	if err != nil {
		return 0, fmt.Errorf("insert: %w", err)
	}
	if !inserted {
		return w.duplicate(e)
	}
	e.Seq = seq
	studyID := e.StudyID
	if store.IsSubmissionEvent(e.Type) {
		// The row's study is the one it had (prefetched), else the event's.
		if known := w.subStudies[e.ResourceID]; known != "" {
			studyID = known
		} else if studyID != "" {
			w.subStudies[e.ResourceID] = studyID
			w.recent.learn()
		}
	}
	w.proj.Add(e, studyID)
	w.outbox = backend.OutboxRows(w.outbox, w.opts.Outputs, e, studyID)
	return store.Stored, nil
}

// insert runs the events INSERT for e and says whether the row went in
// (false: a key conflicted) and its seq.
func (w *txWriter) insert(e *store.Event, body []byte) (bool, int64, error) {
	seq, err := w.hot.insert(rawInsertEvent, w.insertEvent, text(e.ID), text(e.Type), text(e.ResourceID), text(e.Status),
		text(e.ParticipantID), text(e.StudyID), integer(micros(e.EventTime)), integer(micros(e.ReceivedAt)),
		text(e.SignatureForm), text(e.ContentHash), blob(body), text(store.SourceOf(e)))
	return seq != 0, seq, err // 0: a key conflicted (ON CONFLICT DO NOTHING)
}

// finish writes the batch's projection: each submission and study row
// once, then the jobs.
func (w *txWriter) finish() error {
	for _, id := range backend.SortedKeys(w.proj.Submissions) {
		s := w.proj.Submissions[id]
		name, at, rank := statusArgs(s.Status)
		if err := w.hot.exec(rawUpsertSubmission, w.upsertSubmission, text(id), text(s.StudyID), text(s.ParticipantID),
			text(name), integer(int64(rank)), nullable(at), integer(micros(w.now))); err != nil {
			return fmt.Errorf("apply to submission %q: %w", id, err)
		}
	}
	for _, id := range backend.SortedKeys(w.proj.Studies) {
		s := w.proj.Studies[id]
		name, at, rank := statusArgs(s.Status)
		if err := w.hot.exec(rawUpsertStudy, w.upsertStudy, text(id), text(name), integer(int64(rank)), nullable(at),
			integer(int64(s.HighRate)), integer(micros(s.LastAt)), integer(micros(w.now))); err != nil {
			return fmt.Errorf("apply to study %q: %w", id, err)
		}
	}
	for _, j := range w.proj.SortedJobs() {
		if err := enqueue(w.ctx, w.enqueue, j.Kind, j.Key, w.now, w.opts.Debounce); err != nil {
			return err
		}
	}
	for _, r := range w.outbox {
		if _, err := w.insertOutbox.ExecContext(w.ctx, r.Output, r.EventSeq, r.OrderKey, micros(w.now)); err != nil {
			return fmt.Errorf("queue event for output %q: %w", r.Output, err)
		}
	}
	return nil
}

// statusArgs returns the status, status_at (NULL when none) and rank
// parameters of s.
func statusArgs(s backend.Status) (string, sql.NullInt64, int) {
	if !s.Set {
		return "", sql.NullInt64{}, 0
	}
	return s.Name, nullMicros(s.At), s.Rank
}

func enqueue(ctx context.Context, stmt *sql.Stmt, kind, key string, now time.Time, debounce time.Duration) error {
	if _, err := stmt.ExecContext(ctx, kind, key, micros(now.Add(debounce)), micros(now), micros(now)); err != nil {
		return fmt.Errorf("queue %s job: %w", kind, err)
	}
	return nil
}
