package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/ctxwait"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/backend"
)

// defaultFeedWait bounds how long a forward read (the change feed) waits for
// the transactions that were writing events when it looked.
const defaultFeedWait = time.Second

// feedBoundSQL reads the highest visible seq and then the transactions that
// hold a write lock on the events table. The statement's snapshot, which
// the seq is read in, is taken before pg_locks is read (pg_locks is not
// transactional: it shows the locks held at the moment it is read), so a
// transaction that drew a seq before the snapshot and is still running is
// in the list.
//
// The third column is how many values the events sequence hands each
// session at once (CACHE): the bound is only sound when it is 1.
const feedBoundSQL = `SELECT COALESCE((SELECT max(seq) FROM events), 0),
	ARRAY(SELECT virtualtransaction FROM pg_locks
		WHERE locktype = 'relation' AND relation = 'events'::regclass
		AND mode = 'RowExclusiveLock' AND granted),
	COALESCE((SELECT seqcache FROM pg_sequence
		WHERE seqrelid = pg_get_serial_sequence('events', 'seq')::regclass), 1)`

// feedPendingSQL reports whether any of the transactions $1 still holds its
// write lock on the events table. A virtual transaction ID names one
// transaction of one session and is not reused by that session's next one.
const feedPendingSQL = `SELECT EXISTS (SELECT 1 FROM pg_locks
	WHERE locktype = 'relation' AND relation = 'events'::regclass
	AND virtualtransaction = ANY($1::text[]))`

// feedBound returns the highest seq a forward page may hold: every event
// with a seq at or below it that will ever be visible is visible now.
//
// Seqs come from a sequence, so they are drawn in order but may commit out
// of order: a transaction that drew seq 90 can commit after another that
// drew 95. Reading the newest visible seq (top) and waiting until every
// transaction that was writing to the events table when it was read has
// ended settles that: seq top was drawn before the read, so any smaller seq
// was drawn earlier still, by an INSERT that took its table lock (a
// RowExclusiveLock, held to the end of its transaction) before evaluating
// nextval; that transaction has since committed, rolled back, or is in the
// list. The wait is for the batches in flight (milliseconds). Transactions
// on other tables or databases are not waited for. If the wait passes
// d.feedWait, the bound is 0 and the page empty: the caller asks again.
//
// This needs the events sequence to hand out values in order (BIGSERIAL's
// default CACHE 1): with a larger cache each session draws from a block of
// its own, a later transaction can hold a smaller seq than one already
// visible, and the feed could skip it. Someone tuning the database may
// raise it, so the bound checks it each time and refuses to page (an
// error naming the fix) rather than page unsoundly.
func (d *DB) feedBound(ctx context.Context) (int64, error) {
	var top, cache int64
	var writers []string
	if err := d.pool.QueryRow(ctx, feedBoundSQL).Scan(&top, &writers, &cache); err != nil {
		return 0, fmt.Errorf("read feed bound: %w", err)
	}
	if cache != 1 {
		return 0, fmt.Errorf("%w: the events sequence caches %d values per session, so seqs can become visible out of order; "+
			"run ALTER SEQUENCE events_seq_seq CACHE 1 (in the receiver's schema)", store.ErrFeedUnavailable, cache)
	}
	deadline := time.Now().Add(d.feedWait)
	pause := time.Millisecond
	for len(writers) > 0 {
		var pending bool
		if err := d.pool.QueryRow(ctx, feedPendingSQL, writers).Scan(&pending); err != nil {
			return 0, fmt.Errorf("wait for event writers: %w", err)
		}
		if !pending {
			break
		}
		if time.Now().Add(pause).After(deadline) {
			return 0, nil
		}
		if !ctxwait.Sleep(ctx, pause) {
			return 0, ctx.Err()
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
	return top, nil
}

// feedColumns are eventColumns for the change feed (store.FeedPage): no
// body, content hash or signature form, and a submission event stored before its study was known carries
// the study its submission has now.
const feedColumns = `seq, id, '', type, resource_id, status, participant_id,
	CASE WHEN study_id = '' AND type = 'submission.status.change'
		THEN COALESCE((SELECT s.study_id FROM submissions s WHERE s.id = events.resource_id), '') ELSE study_id END,
	event_time, received_at, '', NULL::bytea, source`

// Feed reads the change feed for the events f matches, up to feedBound
// (see store.Store).
func (d *DB) Feed(ctx context.Context, f store.FeedFilter) (store.FeedPage, error) {
	page := store.FeedPage{Through: f.AfterSeq}
	if err := d.check(); err != nil {
		return page, err
	}
	bound, err := d.feedBound(ctx)
	if err != nil {
		return page, d.wrap("feed", err)
	}
	if bound <= f.AfterSeq {
		return page, nil
	}
	args := []any{f.AfterSeq, bound}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	q := `SELECT ` + feedColumns + ` FROM events WHERE seq > $1 AND seq <= $2`
	if m := backend.FeedMatchSQL(f.Match, arg); m != "" {
		q += " AND " + m
	}
	n := limit(f.Limit, 100)
	q += " ORDER BY seq LIMIT " + arg(n)
	rows, err := d.pool.Query(ctx, q, args...)
	if err != nil {
		return page, d.wrap("feed", err)
	}
	page.Events, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Event, error) { return scanEvent(r) })
	if err != nil {
		return page, d.wrap("feed", err)
	}
	page.Through = backend.FeedThrough(page.Events, n, bound)
	return page, nil
}
