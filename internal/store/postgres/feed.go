package postgres

import (
	"context"
	"fmt"
	"time"
)

// defaultFeedWait bounds how long a forward read (the change feed) waits for
// the transactions that were running when it looked.
const defaultFeedWait = time.Second

// feedBoundSQL reads the highest visible seq and then takes a transaction
// ID: the snapshot the seq is read in is taken before the ID is assigned,
// so every transaction that had an ID when the seq was read has a lower
// one. (The snapshot's own xmax would not do: it is one past the newest
// *completed* transaction, and a running one may hold a higher ID.) The
// statement's implicit transaction writes nothing; it costs one ID.
const feedBoundSQL = `SELECT pg_current_xact_id()::text,
	COALESCE((SELECT max(seq) FROM events), 0)`

// feedSettledSQL reports whether every transaction whose ID is at or below
// $1 has ended (the oldest one still running, xmin, is above it).
const feedSettledSQL = `SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::xid8`

// feedBound returns the highest seq a forward page may hold: every event
// with a seq at or below it that will ever be visible is visible now.
//
// Seqs come from a sequence, so they are drawn in order but may commit out
// of order: a transaction that drew seq 90 can commit after another that
// drew 95. Reading the newest visible seq (top) and waiting until every
// transaction that had an ID when it was read has ended settles that: seq
// top was drawn before the read, so any smaller seq was drawn earlier
// still, by a transaction that had its ID by then (commitOnce takes one
// before its first insert) and has now committed or rolled back. The wait
// is for whatever was in flight: a batch commit, a few milliseconds. If it
// takes longer than d.feedWait (a long write transaction elsewhere on the
// server holds the oldest running ID), the bound is 0 and the page empty:
// the caller asks again later.
//
// This assumes the events sequence hands out values in order (BIGSERIAL's
// default CACHE 1; a larger cache would let sessions draw out of order).
func (d *DB) feedBound(ctx context.Context) (int64, error) {
	var xid string
	var top int64
	if err := d.pool.QueryRow(ctx, feedBoundSQL).Scan(&xid, &top); err != nil {
		return 0, fmt.Errorf("read feed bound: %w", err)
	}
	deadline := time.Now().Add(d.feedWait)
	pause := time.Millisecond
	for {
		var settled bool
		if err := d.pool.QueryRow(ctx, feedSettledSQL, xid).Scan(&settled); err != nil {
			return 0, fmt.Errorf("wait for running transactions: %w", err)
		}
		if settled {
			return top, nil
		}
		if time.Now().Add(pause).After(deadline) {
			return 0, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}
