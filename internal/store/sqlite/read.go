package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/backend"
)

const eventColumns = `seq, id, type, resource_id, status, participant_id, study_id,
	event_time, received_at, signature_form, content_hash, body, source`

func scanEvent(row interface{ Scan(...any) error }) (store.Event, error) {
	var e store.Event
	var eventTime, receivedAt int64
	err := row.Scan(&e.Seq, &e.ID, &e.Type, &e.ResourceID, &e.Status, &e.ParticipantID, &e.StudyID,
		&eventTime, &receivedAt, &e.SignatureForm, &e.ContentHash, &e.Body, &e.Source)
	e.EventTime, e.ReceivedAt = fromMicros(eventTime), fromMicros(receivedAt)
	return e, err
}

// sqlEvent finds an event by its own X-Event-ID or, failing that, by an
// alias; the event's own ID wins should both exist.
const sqlEvent = `SELECT ` + eventColumns + ` FROM events
	WHERE id = ?1 OR id = (SELECT event_id FROM event_aliases WHERE id = ?1)
	ORDER BY id = ?1 DESC LIMIT 1`

// Event returns the stored event with X-Event-ID id, or the stored event id
// is an alias of (then the returned event's ID differs from id).
func (db *DB) Event(ctx context.Context, id string) (*store.Event, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	e, err := scanEvent(db.read.QueryRowContext(ctx, sqlEvent, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("event %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, db.wrap("read event", err)
	}
	return &e, nil
}

// limit applies the default (def when n <= 0) and store.MaxLimit.
func limit(n, def int) int {
	if n <= 0 {
		n = def
	}
	return min(n, store.MaxLimit)
}

// Events lists events newest first (by Seq) matching f; eventsQuery
// (eventkeys.go) builds its statement.
func (db *DB) Events(ctx context.Context, f store.EventFilter) ([]store.Event, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	q, args := eventsQuery(f)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, db.wrap("list events", err)
	}
	defer rows.Close()
	out := []store.Event{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, db.wrap("list events", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("list events", err)
	}
	return out, nil
}

const studyColumns = `id, name, status, status_at, places_taken, places_total, number_of_submissions,
	submission_counts, high_return_rate_events, last_event_at, refreshed_at, updated_at`

func scanStudy(row interface{ Scan(...any) error }) (store.Study, error) {
	var s store.Study
	var statusAt, lastEventAt, refreshedAt sql.NullInt64
	var updatedAt int64
	var counts string
	if err := row.Scan(&s.ID, &s.Name, &s.Status, &statusAt, &s.PlacesTaken, &s.PlacesTotal, &s.NumberOfSubmissions,
		&counts, &s.HighReturnRateEvents, &lastEventAt, &refreshedAt, &updatedAt); err != nil {
		return s, err
	}
	s.StatusAt, s.LastEventAt, s.RefreshedAt = fromNullMicros(statusAt), fromNullMicros(lastEventAt), fromNullMicros(refreshedAt)
	s.UpdatedAt = fromMicros(updatedAt)
	s.SubmissionCounts = map[string]int{}
	if err := json.Unmarshal([]byte(counts), &s.SubmissionCounts); err != nil {
		return s, fmt.Errorf("decode submission counts of study %q: %w", s.ID, err)
	}
	return s, nil
}

// Study returns the projection of study id.
func (db *DB) Study(ctx context.Context, id string) (*store.Study, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	s, err := scanStudy(db.read.QueryRowContext(ctx, `SELECT `+studyColumns+` FROM studies WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("study %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, db.wrap("read study", err)
	}
	list := []store.Study{s}
	if err := db.countSubmissions(ctx, list); err != nil {
		return nil, err
	}
	return &list[0], nil
}

// Studies lists studies, most recent last_event_at first.
func (db *DB) Studies(ctx context.Context, f store.StudyFilter) ([]store.Study, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	q := `SELECT ` + studyColumns + ` FROM studies`
	var args []any
	if !f.SeenSince.IsZero() {
		q += ` WHERE last_event_at >= ?1 OR updated_at >= ?1`
		args = append(args, micros(f.SeenSince))
	}
	q += ` ORDER BY last_event_at DESC NULLS LAST, updated_at DESC, id LIMIT ` + fmt.Sprint(limit(f.Limit, store.MaxLimit))
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, db.wrap("list studies", err)
	}
	defer rows.Close()
	out := []store.Study{}
	for rows.Next() {
		s, err := scanStudy(rows)
		if err != nil {
			return nil, db.wrap("list studies", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("list studies", err)
	}
	if err := db.countSubmissions(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// countSubmissions fills SubmissionCounts from the submissions projection for
// studies never refreshed from the API.
func (db *DB) countSubmissions(ctx context.Context, studies []store.Study) error {
	idx := map[string]int{}
	var args []any
	for i, s := range studies {
		if s.RefreshedAt.IsZero() {
			idx[s.ID] = i
			args = append(args, s.ID)
		}
	}
	if len(args) == 0 {
		return nil
	}
	q := `SELECT study_id, status, count(*) FROM submissions
		WHERE status <> '' AND study_id IN (?` + strings.Repeat(",?", len(args)-1) + `) GROUP BY study_id, status`
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return db.wrap("count submissions", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, status string
		var n int
		if err := rows.Scan(&id, &status, &n); err != nil {
			return db.wrap("count submissions", err)
		}
		studies[idx[id]].SubmissionCounts[status] = n
	}
	if err := rows.Err(); err != nil {
		return db.wrap("count submissions", err)
	}
	return nil
}

const submissionColumns = `id, study_id, participant_id, status, status_at, updated_at`

func scanSubmission(row interface{ Scan(...any) error }) (store.Submission, error) {
	var s store.Submission
	var statusAt sql.NullInt64
	var updatedAt int64
	err := row.Scan(&s.ID, &s.StudyID, &s.ParticipantID, &s.Status, &statusAt, &updatedAt)
	s.StatusAt, s.UpdatedAt = fromNullMicros(statusAt), fromMicros(updatedAt)
	return s, err
}

// Submission returns the projection of submission id.
func (db *DB) Submission(ctx context.Context, id string) (*store.Submission, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	s, err := scanSubmission(db.read.QueryRowContext(ctx, `SELECT `+submissionColumns+` FROM submissions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("submission %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, db.wrap("read submission", err)
	}
	return &s, nil
}

// Submissions lists studyID's known submissions, newest status first; n 0
// means store.MaxLimit.
func (db *DB) Submissions(ctx context.Context, studyID string, n int) ([]store.Submission, error) {
	if db.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+submissionColumns+` FROM submissions
		WHERE study_id = ? ORDER BY status_at DESC NULLS LAST, id LIMIT ?`, studyID, limit(n, store.MaxLimit))
	if err != nil {
		return nil, db.wrap("list submissions", err)
	}
	defer rows.Close()
	out := []store.Submission{}
	for rows.Next() {
		s, err := scanSubmission(rows)
		if err != nil {
			return nil, db.wrap("list submissions", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("list submissions", err)
	}
	return out, nil
}

// feedColumns are eventColumns for the change feed (store.FeedPage): no
// body, content hash or signature form, and a submission event stored before its study was known carries
// the study its submission has now.
const feedColumns = `seq, id, type, resource_id, status, participant_id,
	CASE WHEN study_id = '' AND type = 'submission.status.change'
		THEN coalesce((SELECT s.study_id FROM submissions s WHERE s.id = events.resource_id), '') ELSE study_id END,
	event_time, received_at, '', '', NULL, source`

// Feed reads the change feed for the events f matches (see store.Store).
// One connection writes and a commit makes a batch visible at once, so
// every seq up to the newest visible one is final: that is the bound.
func (db *DB) Feed(ctx context.Context, f store.FeedFilter) (store.FeedPage, error) {
	if db.closed.Load() {
		return store.FeedPage{}, store.ErrClosed
	}
	db.recent.enable()
	page := store.FeedPage{Through: f.AfterSeq}
	var bound int64
	if err := db.rules.feedBound.QueryRowContext(ctx).Scan(&bound); err != nil {
		return page, db.wrap("read feed", err)
	}
	if bound <= f.AfterSeq {
		return page, nil
	}
	n := limit(f.Limit, 100)
	events, ok, err := db.feedFromMemory(ctx, f.AfterSeq, bound, f.Match, n)
	if err == nil && !ok {
		events, err = db.feedFromTable(ctx, f.AfterSeq, bound, f.Match, n)
	}
	if err != nil {
		return page, db.wrap("read feed", err)
	}
	page.Events, page.Through = events, backend.FeedThrough(events, n, bound)
	return page, nil
}

// feedFromTable reads Feed's page from the events table.
func (db *DB) feedFromTable(ctx context.Context, after, bound int64, ms []store.EventMatch, n int) ([]store.Event, error) {
	args := []any{after, bound}
	q := `SELECT ` + feedColumns + ` FROM events WHERE seq > ? AND seq <= ?`
	if m := backend.FeedMatchSQL(ms, func(v any) string { args = append(args, v); return "?" }); m != "" {
		q += " AND " + m
	}
	rows, err := db.read.QueryContext(ctx, q+` ORDER BY seq LIMIT ?`, append(args, n)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var events []store.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, rows.Err()
}
