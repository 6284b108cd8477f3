package sqlite

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// recentCap is how many of the newest stored events the change feed keeps
// in memory: at the webhook path's top rate on this kind of machine (about
// 15,000 events/s) a couple of seconds, more than the rules engine's poll.
const recentCap = 1 << 15

// recentEvent is a stored event as the change feed lists it (no body,
// content hash or signature form), times as stored (microseconds).
type recentEvent struct {
	// learnt is recentFeed.learnt when the event's batch began: while it
	// is unchanged, no submission has learnt its study since
	learnt                                            uint64
	seq                                               int64
	id, typ, resourceID, status, participant, studyID string
	source                                            string
	eventTime, receivedAt                             int64
}

// recentFeed keeps the newest events this process committed, in seq
// order, so that Feed can read a page of them without scanning the events
// table: the rules engine reads every new event once, and through SQL that
// cost about a quarter of its CPU, mostly loading the pages each commit
// had made stale in the reading connection's cache. This process is the
// file's only writer (owner.go) and every event goes in through commit,
// which adds its stored events in order; Feed still serves a page from
// memory only when it holds every seq the page covers, up to the bound it
// read from the database, and reads the table otherwise (the backlog
// before the first Feed call, an engine further behind than recentCap).
type recentFeed struct {
	mu sync.Mutex
	// ring holds seqs first..last (at most recentCap of them), seq s at
	// ring[s % recentCap]; allocated by enable, the first Feed: until the
	// feed is read (a receiver without rules) nothing is kept. A fixed ring, not a growing slice: copying and
	// regrowing a slice on the write path cost about 2 % of the receiver's
	// CPU under load.
	ring        []recentEvent
	first, last int64 // empty when last < first
	// learnt counts the writes that may have taught the store a
	// submission's study (learn): a submission event stored without one
	// is looked up only if it moved since the event's batch began.
	learnt atomic.Uint64
}

// learn notes that a write holding the writer may teach the store a
// submission's study; called before that write commits.
func (r *recentFeed) learn() { r.learnt.Add(1) }

// enable starts keeping events (from the next commit on).
func (r *recentFeed) enable() {
	r.mu.Lock()
	if r.ring == nil {
		r.ring = make([]recentEvent, recentCap)
		r.first, r.last = 1, 0
	}
	r.mu.Unlock()
}

// add records a commit's stored events, in the order they were stored. A
// seq that does not follow the last one kept starts the buffer afresh.
func (r *recentFeed) add(events []*store.Event, out []store.Outcome, learnt uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ring == nil {
		return
	}
	for i, e := range events {
		if out[i] != store.Stored {
			continue
		}
		switch {
		case r.last < r.first || r.last+1 != e.Seq:
			r.first = e.Seq // empty, or a gap: start afresh
		case e.Seq-r.first >= recentCap:
			r.first++ // the oldest is overwritten
		}
		r.last = e.Seq
		r.ring[e.Seq%recentCap] = recentEvent{learnt: learnt, seq: e.Seq, id: e.ID, typ: e.Type, resourceID: e.ResourceID, status: e.Status,
			participant: e.ParticipantID, studyID: e.StudyID, source: store.SourceOf(e),
			eventTime: micros(e.EventTime), receivedAt: micros(e.ReceivedAt)}
	}
}

// page returns the events after after and up to bound that ms match, at
// most n, and whether memory held every seq in that range (false: read
// the table).
func (r *recentFeed) page(after, bound int64, ms []store.EventMatch, n int) ([]store.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ring == nil || r.last < r.first || r.first > after+1 || r.last < bound {
		return nil, false
	}
	var out []store.Event
	learnt := r.learnt.Load()
	for seq := after + 1; seq <= bound && len(out) < n; seq++ {
		re := &r.ring[seq%recentCap]
		e := store.Event{Seq: re.seq, ID: re.id, Type: re.typ, ResourceID: re.resourceID, Status: re.status,
			ParticipantID: re.participant, StudyID: re.studyID, Source: re.source,
			EventTime: fromMicros(re.eventTime), ReceivedAt: fromMicros(re.receivedAt)}
		if store.MatchesAny(ms, &e) {
			if e.StudyID == "" && re.learnt == learnt {
				e.StudyID = studyUnknown // nothing learnt since: no look-up
			}
			out = append(out, e)
		}
	}
	return out, true
}

// studyUnknown marks, between recentFeed.page and feedFromMemory, an
// event whose study no write can have taught the store since it was
// stored (it cannot be a study ID: those are Prolific's hex IDs).
const studyUnknown = "\x00unknown"

// feedFromMemory is Feed's page from recentFeed, with each submission
// event stored before its study was known given the study the store knows
// for its submission now, as feedColumns does; false when memory does not
// hold the page's range.
func (db *DB) feedFromMemory(ctx context.Context, after, bound int64, ms []store.EventMatch, n int) ([]store.Event, bool, error) {
	events, ok := db.recent.page(after, bound, ms, n)
	if !ok {
		return nil, false, nil
	}
	var unknown []string
	seen := map[string]bool{}
	for i := range events {
		if e := &events[i]; e.StudyID == studyUnknown {
			e.StudyID = ""
		} else if e.StudyID == "" && e.Type == prolific.EventSubmissionStatusChange && !seen[e.ResourceID] {
			seen[e.ResourceID] = true
			unknown = append(unknown, e.ResourceID)
		}
	}
	if len(unknown) == 0 {
		return events, true, nil
	}
	ids, _ := json.Marshal(unknown)
	rows, err := db.rules.feedStudies.QueryContext(ctx, string(ids))
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	studies := map[string]string{}
	for rows.Next() {
		var id, study string
		if err := rows.Scan(&id, &study); err != nil {
			return nil, false, err
		}
		studies[id] = study
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	for i := range events {
		if e := &events[i]; e.StudyID == "" && e.Type == prolific.EventSubmissionStatusChange {
			e.StudyID = studies[e.ResourceID]
		}
	}
	return events, true, nil
}
