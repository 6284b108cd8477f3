package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prolific-receiver/receiver/internal/store"
)

const eventColumns = `seq, id, COALESCE(content_hash, ''), type, resource_id, status, participant_id,
	study_id, event_time, received_at, signature_form, body, source`

func scanEvent(row pgx.Row) (store.Event, error) {
	var e store.Event
	err := row.Scan(&e.Seq, &e.ID, &e.ContentHash, &e.Type, &e.ResourceID, &e.Status, &e.ParticipantID,
		&e.StudyID, &e.EventTime, &e.ReceivedAt, &e.SignatureForm, &e.Body, &e.Source)
	e.EventTime = e.EventTime.UTC()
	e.ReceivedAt = e.ReceivedAt.UTC()
	return e, err
}

// eventSQL finds an event by its own X-Event-ID or, failing that, by an
// alias; the event's own ID wins should both exist.
const eventSQL = `SELECT ` + eventColumns + ` FROM events
	WHERE id = $1 OR id = (SELECT event_id FROM event_aliases WHERE id = $1)
	ORDER BY id = $1 DESC LIMIT 1`

// Event returns the stored event with X-Event-ID id, or the stored event id
// is an alias of (then the returned event's ID differs from id), or
// store.ErrNotFound.
func (d *DB) Event(ctx context.Context, id string) (*store.Event, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	e, err := scanEvent(d.pool.QueryRow(ctx, eventSQL, id))
	if err != nil {
		return nil, d.wrap("event", err)
	}
	return &e, nil
}

// Events lists events matching f, newest (highest Seq) first, or oldest
// first up to the change feed's bound when f.Forward is set.
func (d *DB) Events(ctx context.Context, f store.EventFilter) ([]store.Event, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Type != "" {
		where = append(where, "type = "+arg(f.Type))
	}
	if f.ResourceID != "" {
		where = append(where, "resource_id = "+arg(f.ResourceID))
	}
	if f.StudyID != "" {
		// A study's own events match by resource_id; submission events
		// stored before their study was learnt carry no study_id, so the
		// submissions table links them.
		p := arg(f.StudyID)
		where = append(where, "(study_id = "+p+
			" OR (resource_id = "+p+" AND type LIKE 'study.%')"+
			" OR (type = 'submission.status.change' AND resource_id IN (SELECT id FROM submissions WHERE study_id = "+p+")))")
	}
	order := "DESC"
	switch {
	case f.Forward:
		bound, err := d.feedBound(ctx)
		if err != nil {
			return nil, d.wrap("events", err)
		}
		if bound <= f.AfterSeq {
			return []store.Event{}, nil
		}
		where = append(where, "seq > "+arg(f.AfterSeq), "seq <= "+arg(bound))
		order = "ASC"
	case f.BeforeSeq > 0:
		where = append(where, "seq < "+arg(f.BeforeSeq))
	}
	q := `SELECT ` + eventColumns + ` FROM events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq " + order + " LIMIT " + arg(limit(f.Limit, 100))
	rows, err := d.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, d.wrap("events", err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Event, error) { return scanEvent(r) })
	if err != nil {
		return nil, d.wrap("events", err)
	}
	return events, nil
}

// limit applies a list call's default (for n <= 0) and store.MaxLimit.
func limit(n, def int) int {
	if n <= 0 {
		n = def
	}
	return min(n, store.MaxLimit)
}

const studyColumns = `id, name, status, status_at, places_taken, places_total, number_of_submissions,
	submission_counts, high_return_rate_events, last_event_at, refreshed_at, updated_at`

func scanStudy(row pgx.Row) (store.Study, error) {
	var s store.Study
	var statusAt, lastAt, refreshedAt *time.Time
	var counts []byte
	err := row.Scan(&s.ID, &s.Name, &s.Status, &statusAt, &s.PlacesTaken, &s.PlacesTotal, &s.NumberOfSubmissions,
		&counts, &s.HighReturnRateEvents, &lastAt, &refreshedAt, &s.UpdatedAt)
	if err != nil {
		return s, err
	}
	s.StatusAt, s.LastEventAt, s.RefreshedAt = utc(statusAt), utc(lastAt), utc(refreshedAt)
	s.UpdatedAt = s.UpdatedAt.UTC()
	if refreshedAt != nil {
		s.SubmissionCounts = map[string]int{}
	}
	if refreshedAt != nil && len(counts) > 0 {
		if err := json.Unmarshal(counts, &s.SubmissionCounts); err != nil {
			return s, fmt.Errorf("decode submission counts of study %q: %w", s.ID, err)
		}
	}
	return s, nil
}

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// Study returns the projection of study id, or store.ErrNotFound.
func (d *DB) Study(ctx context.Context, id string) (*store.Study, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	s, err := scanStudy(d.pool.QueryRow(ctx, `SELECT `+studyColumns+` FROM studies WHERE id = $1`, id))
	if err != nil {
		return nil, d.wrap("study", err)
	}
	studies := []store.Study{s}
	if err := d.countSubmissions(ctx, studies); err != nil {
		return nil, d.wrap("study", err)
	}
	return &studies[0], nil
}

// Studies lists studies, most recent event first.
func (d *DB) Studies(ctx context.Context, f store.StudyFilter) ([]store.Study, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	var since *time.Time
	if !f.SeenSince.IsZero() {
		since = &f.SeenSince
	}
	rows, err := d.pool.Query(ctx, `SELECT `+studyColumns+` FROM studies
		WHERE $1::timestamptz IS NULL OR last_event_at >= $1 OR updated_at >= $1
		ORDER BY last_event_at DESC NULLS LAST, updated_at DESC, id
		LIMIT $2`, since, limit(f.Limit, store.MaxLimit))
	if err != nil {
		return nil, d.wrap("studies", err)
	}
	studies, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Study, error) { return scanStudy(r) })
	if err != nil {
		return nil, d.wrap("studies", err)
	}
	if err := d.countSubmissions(ctx, studies); err != nil {
		return nil, d.wrap("studies", err)
	}
	return studies, nil
}

// countSubmissions fills SubmissionCounts of studies never refreshed from
// the API by counting their submissions' statuses.
func (d *DB) countSubmissions(ctx context.Context, studies []store.Study) error {
	idx := map[string]int{}
	var ids []string
	for i := range studies {
		if studies[i].RefreshedAt.IsZero() {
			idx[studies[i].ID] = i
			ids = append(ids, studies[i].ID)
			studies[i].SubmissionCounts = map[string]int{}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := d.pool.Query(ctx, `SELECT study_id, status, count(*) FROM submissions
		WHERE study_id = ANY($1) AND status <> '' GROUP BY study_id, status`, ids)
	if err != nil {
		return fmt.Errorf("count submissions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var study, status string
		var n int
		if err := rows.Scan(&study, &status, &n); err != nil {
			return fmt.Errorf("count submissions: %w", err)
		}
		studies[idx[study]].SubmissionCounts[status] = n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count submissions: %w", err)
	}
	return nil
}

const submissionColumns = `id, study_id, participant_id, status, status_at, updated_at`

func scanSubmission(row pgx.Row) (store.Submission, error) {
	var s store.Submission
	var statusAt *time.Time
	err := row.Scan(&s.ID, &s.StudyID, &s.ParticipantID, &s.Status, &statusAt, &s.UpdatedAt)
	s.StatusAt = utc(statusAt)
	s.UpdatedAt = s.UpdatedAt.UTC()
	return s, err
}

// Submission returns the projection of submission id, or store.ErrNotFound.
func (d *DB) Submission(ctx context.Context, id string) (*store.Submission, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	s, err := scanSubmission(d.pool.QueryRow(ctx, `SELECT `+submissionColumns+` FROM submissions WHERE id = $1`, id))
	if err != nil {
		return nil, d.wrap("submission", err)
	}
	return &s, nil
}

// Submissions lists the known submissions of studyID, newest status first.
// n <= 0 means store.MaxLimit.
func (d *DB) Submissions(ctx context.Context, studyID string, n int) ([]store.Submission, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	rows, err := d.pool.Query(ctx, `SELECT `+submissionColumns+` FROM submissions
		WHERE study_id = $1 ORDER BY status_at DESC NULLS LAST, id LIMIT $2`, studyID, limit(n, store.MaxLimit))
	if err != nil {
		return nil, d.wrap("submissions", err)
	}
	subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Submission, error) { return scanSubmission(r) })
	if err != nil {
		return nil, d.wrap("submissions", err)
	}
	return subs, nil
}
