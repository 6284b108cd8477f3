package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// ApplyStudySnapshot records what the API said about a study. Name, places
// and counts are replaced unless a newer snapshot was already applied; the
// status follows the ordering rule with FetchedAt as its time.
func (db *DB) ApplyStudySnapshot(ctx context.Context, s store.StudySnapshot) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	if s.ID == "" || s.FetchedAt.IsZero() {
		return errors.New("apply study snapshot: empty ID or FetchedAt")
	}
	counts := s.SubmissionCounts
	if counts == nil {
		counts = map[string]int{}
	}
	countsJSON, err := json.Marshal(counts)
	if err != nil {
		return fmt.Errorf("apply study snapshot: encode counts: %w", err)
	}
	var statusAt any
	if s.Status != "" {
		statusAt = micros(s.FetchedAt)
	}
	_, err = db.write.ExecContext(ctx, `INSERT INTO studies
		(id, name, status, status_rank, status_at, places_taken, places_total, number_of_submissions,
		 submission_counts, refreshed_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
		status = CASE WHEN `+studyNewer+` THEN excluded.status ELSE studies.status END,
		status_rank = CASE WHEN `+studyNewer+` THEN excluded.status_rank ELSE studies.status_rank END,
		status_at = CASE WHEN `+studyNewer+` THEN excluded.status_at ELSE studies.status_at END,
		name = CASE WHEN `+snapshotNewer+` THEN excluded.name ELSE studies.name END,
		places_taken = CASE WHEN `+snapshotNewer+` THEN excluded.places_taken ELSE studies.places_taken END,
		places_total = CASE WHEN `+snapshotNewer+` THEN excluded.places_total ELSE studies.places_total END,
		number_of_submissions = CASE WHEN `+snapshotNewer+` THEN excluded.number_of_submissions ELSE studies.number_of_submissions END,
		submission_counts = CASE WHEN `+snapshotNewer+` THEN excluded.submission_counts ELSE studies.submission_counts END,
		refreshed_at = CASE WHEN `+snapshotNewer+` THEN excluded.refreshed_at ELSE studies.refreshed_at END,
		updated_at = excluded.updated_at`,
		s.ID, s.Name, s.Status, store.StatusRank(prolific.EventStudyStatusChange, s.Status), statusAt,
		s.PlacesTaken, s.PlacesTotal, s.NumberOfSubmissions, string(countsJSON),
		micros(s.FetchedAt), micros(db.opts.Now()))
	if err != nil {
		return db.wrap("apply study snapshot", err)
	}
	return nil
}

const snapshotNewer = `(studies.refreshed_at IS NULL OR excluded.refreshed_at >= studies.refreshed_at)`

// SetSubmissionStudy records that submissionID belongs to studyID
// (SetSubmissionsStudy with one submission).
func (db *DB) SetSubmissionStudy(ctx context.Context, submissionID, studyID string) error {
	return db.SetSubmissionsStudy(ctx, studyID, []string{submissionID})
}

// SetSubmissionsStudy records that every one of submissionIDs belongs to
// studyID, in one transaction: each submission row (created if missing)
// gets the study, each submission's stored events without a study get it
// too (so Events(StudyID) finds them), the study row is created if missing
// and its last_event_at covers the submissions' newest status, and with
// Enrich one study refresh is queued.
func (db *DB) SetSubmissionsStudy(ctx context.Context, studyID string, submissionIDs []string) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	if studyID == "" || slices.Contains(submissionIDs, "") {
		return errors.New("set submission study: empty ID")
	}
	if len(submissionIDs) == 0 {
		return nil
	}
	now := db.opts.Now()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap("set submission study", err)
	}
	defer tx.Rollback()
	db.recent.learn() // holding the writer: after every batch stored before it (feedmem.go)
	// Each statement takes ?1 the study, ?2 a submission and, when it
	// has three parameters, ?3 the time; one submission's steps depend only
	// on its own earlier ones, so each statement runs for all in turn.
	steps := []struct {
		sql    string
		params int
	}{
		{`INSERT INTO submissions (id, study_id, updated_at) VALUES (?2, ?1, ?3)
			ON CONFLICT (id) DO UPDATE SET study_id = excluded.study_id, updated_at = excluded.updated_at`, 3},
		{sqlKeySetStudy, 2},
		{sqlSetEventsStudy, 2},
		{`INSERT INTO studies (id, last_event_at, updated_at)
			VALUES (?1, (SELECT status_at FROM submissions WHERE id = ?2), ?3)
			ON CONFLICT (id) DO UPDATE SET
			last_event_at = CASE WHEN studies.last_event_at IS NULL OR excluded.last_event_at > studies.last_event_at
				THEN excluded.last_event_at ELSE studies.last_event_at END,
			updated_at = excluded.updated_at`, 3},
	}
	at := micros(now)
	for _, step := range steps {
		st, err := tx.PrepareContext(ctx, step.sql)
		if err != nil {
			return db.wrap("set submission study", err)
		}
		defer st.Close()
		for _, id := range submissionIDs {
			args := []any{studyID, id, at}
			if _, err := st.ExecContext(ctx, args[:step.params]...); err != nil {
				return db.wrap("set submission study", err)
			}
		}
	}
	if err := db.queueInTx(ctx, tx, store.JobRefreshStudy, studyID, now); err != nil {
		return db.wrap("set submission study", err)
	}
	if err := tx.Commit(); err != nil {
		return db.wrap("set submission study", err)
	}
	return nil
}
