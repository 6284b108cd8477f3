package sqlite

// Deferred event keys (docs/store.md "Deferred event keys", migration 0008).
//
// The events' study and resource index entries live in event_study_keys and
// event_resource_keys, not in indexes on the events table. A batch does not
// write them: the batch that takes the events without keys (the tail, after
// event_keys_done.seq) to keysEvery or more writes the whole tail's keys in
// one sorted pass, inside its own transaction. A batch of about 70 events
// touching 50 studies and 60 submissions dirtied a leaf page of each index
// for most of them; a pass over thousands of events dirties each leaf page
// once. Reads by study or resource walk the keys up to event_keys_done.seq
// and scan the tail, in one statement, so they see one snapshot of both.

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/prolific-receiver/receiver/internal/store"
)

// keysEvery is how many events may wait for their keys before a batch keys
// them all; the tail a read scans is at most this plus one batch. A
// variable for tests.
var keysEvery int64 = 4096

const (
	sqlKeysDone    = `SELECT seq FROM event_keys_done`
	sqlKeysDoneSet = `UPDATE event_keys_done SET seq = ?1`
	// A key already there is the same fact written twice, never a reason
	// to fail the batch (and with it every batch after it).
	sqlKeyStudies = `INSERT OR IGNORE INTO event_study_keys (study_id, seq)
		SELECT study_id, seq FROM events WHERE seq > ?1 AND seq <= ?2 AND study_id <> '' ORDER BY study_id, seq`
	sqlKeyResources = `INSERT OR IGNORE INTO event_resource_keys (resource_id, seq)
		SELECT resource_id, seq FROM events WHERE seq > ?1 AND seq <= ?2 ORDER BY resource_id, seq`

	// keysDoneQuery is where the keys end as a subquery: a listing reads it
	// in the same statement as the keys and the tail after it.
	keysDoneQuery = `(` + sqlKeysDone + `)`

	// sqlSetEventsStudy gives submission ?2's events without a study study
	// ?1 (SetSubmissionStudy); sqlKeySetStudy, run first, keys those of
	// them that are past the tail (the tail's get their keys from the pass).
	submissionEventsOf = `SELECT seq FROM event_resource_keys WHERE resource_id = ?2
		UNION ALL SELECT seq FROM events WHERE seq > ` + keysDoneQuery + ` AND resource_id = ?2`
	sqlKeySetStudy = `INSERT OR IGNORE INTO event_study_keys (study_id, seq)
		SELECT ?1, e.seq FROM event_resource_keys AS k CROSS JOIN events AS e ON e.seq = k.seq
		WHERE k.resource_id = ?2 AND e.study_id = '' AND e.type = 'submission.status.change'`
	sqlSetEventsStudy = `UPDATE events SET study_id = ?1
		WHERE seq IN (` + submissionEventsOf + `) AND study_id = '' AND type = 'submission.status.change'`

	// The keys of the events a prune deletes (prune.go), before the events.
	sqlPruneStudyKeys = `DELETE FROM event_study_keys WHERE (study_id, seq) IN
		(SELECT study_id, seq FROM events WHERE seq IN (` + sqlPruneSelect + `))`
	sqlPruneResourceKeys = `DELETE FROM event_resource_keys WHERE (resource_id, seq) IN
		(SELECT resource_id, seq FROM events WHERE seq IN (` + sqlPruneSelect + `))`
)

// loadKeysDone reads where the keys end, at open.
func (db *DB) loadKeysDone(ctx context.Context) error {
	var seq int64
	if err := db.write.QueryRowContext(ctx, sqlKeysDone).Scan(&seq); err != nil {
		return fmt.Errorf("read event keys: %w", err)
	}
	db.keysDone.Store(seq)
	return nil
}

// keyEvents writes, inside a batch's transaction tx, the keys of every
// event up to upTo (the batch's newest) when the tail has reached
// keysEvery. It returns the new end of the keys, or 0 when it wrote none;
// the caller records it (keysDone) once tx has committed.
func (db *DB) keyEvents(ctx context.Context, tx *sql.Tx, upTo int64) (int64, error) {
	from := db.keysDone.Load()
	if upTo-from < keysEvery {
		return 0, nil
	}
	for _, q := range []string{sqlKeyStudies, sqlKeyResources} {
		if _, err := tx.ExecContext(ctx, q, from, upTo); err != nil {
			return 0, fmt.Errorf("key events: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, sqlKeysDoneSet, upTo); err != nil {
		return 0, fmt.Errorf("key events: %w", err)
	}
	return upTo, nil
}

// eventCond is one condition of an events listing on a column of events.
type eventCond struct {
	col, op string
	arg     any
}

// eventsQuery returns the statement and arguments of Events for f. Without
// a study or resource it reads events by seq. With one, it walks that
// study's or resource's keys (the resource's when both are given) joined to
// their events, and the tail of events without keys, merged by seq.
func eventsQuery(f store.EventFilter) (string, []any) {
	var conds []eventCond
	if f.Type != "" {
		conds = append(conds, eventCond{"type", "=", f.Type})
	}
	if f.ResourceID != "" {
		conds = append(conds, eventCond{"resource_id", "=", f.ResourceID})
	}
	if f.StudyID != "" {
		conds = append(conds, eventCond{"study_id", "=", f.StudyID})
	}
	order := "DESC"
	switch {
	case f.Forward:
		// One connection writes and a commit makes all of a batch visible
		// at once, so seqs become visible in order: every seq up to the
		// newest visible one is final.
		conds, order = append(conds, eventCond{"seq", ">", f.AfterSeq}), "ASC"
	case f.BeforeSeq > 0:
		conds = append(conds, eventCond{"seq", "<", f.BeforeSeq})
	}
	var q strings.Builder
	var args []any
	where := func(cs []eventCond, prefix, join string) {
		for _, c := range cs {
			fmt.Fprintf(&q, "%s%s%s %s ?", join, prefix, c.col, c.op)
			args = append(args, c.arg)
			join = " AND "
		}
	}
	keys, col, key := "", "", ""
	switch {
	case f.ResourceID != "":
		keys, col, key = "event_resource_keys", "resource_id", f.ResourceID
	case f.StudyID != "":
		keys, col, key = "event_study_keys", "study_id", f.StudyID
	}
	if keys == "" {
		q.WriteString(`SELECT ` + eventColumns + ` FROM events`)
		where(conds, "", " WHERE ")
	} else {
		// The seq conditions apply to the keys' seq, so the walk of their
		// primary key starts and stops where they say.
		var onSeq, onEvent []eventCond
		for _, c := range conds {
			if c.col == "seq" {
				onSeq = append(onSeq, c)
			} else {
				onEvent = append(onEvent, c)
			}
		}
		// The keys' seq is the one selected, so the arm comes out in the
		// order of their primary key, without a sort.
		fmt.Fprintf(&q, `SELECT k.seq, %s FROM %s AS k CROSS JOIN events AS e ON e.seq = k.seq
			WHERE k.%s = ? AND k.seq <= %s`, keyedEventFields, keys, col, keysDoneQuery)
		args = append(args, key)
		where(onSeq, "k.", " AND ")
		where(onEvent, "e.", " AND ")
		q.WriteString(` UNION ALL SELECT ` + eventColumns + ` FROM events WHERE seq > ` + keysDoneQuery)
		where(conds, "", " AND ")
	}
	fmt.Fprintf(&q, " ORDER BY seq %s LIMIT ?", order)
	args = append(args, limit(f.Limit, 100))
	return q.String(), args
}

// keyedEventFields is eventColumns after seq, each qualified with "e." (the
// events joined to their keys; the keys give the seq).
var keyedEventFields = func() string {
	cols := strings.Split(eventColumns, ",")[1:]
	for i, c := range cols {
		cols[i] = "e." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}()
