package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prolific-receiver/receiver/internal/ctxwait"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// movingStatuses are the study statuses reconciled at every pass, as the
// study sweep refreshes them ("" is a study whose status is unknown).
var movingStatuses = store.MovingStudyStatuses

// maxSubmissionPages bounds one study's listing.
const maxSubmissionPages = 1000

// Correction kinds, the kind label of receiver_reconcile_corrections_total.
const (
	KindSubmission = "submission"
	KindStudy      = "study"
)

// candidate is a difference between the store and Prolific's API.
type candidate struct {
	kind, studyID, id, participantID, status, previous string
	checkedAt                                          time.Time
}

// reconcileStudies compares every due study with Prolific's API, waits
// Settle for webhooks already on their way, and records what still differs.
func (r *Reconciler) reconcileStudies(ctx context.Context, req Request, sum *Summary) error {
	ids, err := r.dueStudies(ctx, req)
	if err != nil {
		return err
	}
	var errs []error
	var cands []candidate
	checked := map[string]time.Time{}
	for _, id := range ids {
		c, at, err := r.compareStudy(ctx, id, req, sum)
		switch {
		case errors.Is(err, prolific.ErrNotFound) && req.StudyID == "":
			r.opts.Log.Warn().Str("study_id", id).Msg("reconcile: Prolific does not know this study (deleted?); skipped")
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("study %s: %w", id, err))
			if ctx.Err() != nil {
				return errors.Join(errs...)
			}
			continue
		}
		sum.Studies++
		cands = append(cands, c...)
		checked[id] = at
	}
	if len(cands) > 0 && r.opts.Settle > 0 && !req.DryRun && !ctxwait.Sleep(ctx, r.opts.Settle) {
		return errors.Join(append(errs, ctx.Err())...)
	}
	for _, c := range cands {
		if err := r.correct(ctx, c, req.DryRun, sum); err != nil {
			errs = append(errs, fmt.Errorf("study %s: %w", c.studyID, err))
			delete(checked, c.studyID)
		}
	}
	if !req.DryRun {
		for id, at := range checked {
			if err := r.st.SetReconcileMark(ctx, store.MarkStudy, id, at); err != nil {
				errs = append(errs, fmt.Errorf("study %s: mark reconciled: %w", id, err))
			}
		}
	}
	return errors.Join(errs...)
}

// dueStudies lists the studies a pass reconciles: the one asked for; or,
// seen within the retention (or since req.Since, all of them), those still
// moving and those that changed since they were last reconciled.
func (r *Reconciler) dueStudies(ctx context.Context, req Request) ([]string, error) {
	if req.StudyID != "" {
		return []string{req.StudyID}, nil
	}
	since := r.opts.Now().Add(-r.opts.Retention)
	if !req.Since.IsZero() {
		since = req.Since
	}
	studies, err := r.st.Studies(ctx, store.StudyFilter{SeenSince: since, Limit: store.MaxLimit})
	if err != nil {
		return nil, fmt.Errorf("list studies: %w", err)
	}
	marks, err := r.st.ReconcileMarks(ctx, store.MarkStudy)
	if err != nil {
		return nil, fmt.Errorf("read study marks: %w", err)
	}
	var ids []string
	for _, s := range studies {
		mark, ok := marks[s.ID]
		if !req.Since.IsZero() || slices.Contains(movingStatuses, s.Status) || !ok ||
			mark.Before(s.LastEventAt) || mark.Before(s.StatusAt) {
			ids = append(ids, s.ID)
		}
	}
	return ids, nil
}

// compareStudy reads a study, its counts and its submissions from
// Prolific, records the study's snapshot (places, counts) as a refresh
// does, and returns the differences it found and when it started reading.
func (r *Reconciler) compareStudy(ctx context.Context, id string, req Request, sum *Summary) ([]candidate, time.Time, error) {
	checkedAt := r.opts.Now().UTC()
	api, err := r.readStudy(ctx, id, sum)
	if err != nil {
		return nil, checkedAt, err
	}
	stored, err := r.st.Study(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, checkedAt, fmt.Errorf("read stored study: %w", err)
	}
	cands, err := r.compareSubmissions(ctx, id, api.listed, req, checkedAt)
	if err != nil {
		return nil, checkedAt, err
	}
	if stored == nil || (stored.Status != api.study.Status && !stored.StatusAt.After(checkedAt)) {
		c := candidate{kind: KindStudy, studyID: id, id: id, status: api.study.Status, checkedAt: checkedAt}
		if stored != nil {
			c.previous = stored.Status
		}
		cands = append(cands, c)
	}
	if !req.DryRun {
		delete(api.counts, "TOTAL")
		if err := r.st.ApplyStudySnapshot(ctx, store.StudySnapshot{
			ID: id, Name: api.study.Name, Status: api.study.Status, PlacesTaken: api.study.PlacesTaken,
			PlacesTotal: api.study.TotalAvailablePlaces, NumberOfSubmissions: api.study.NumberOfSubmissions,
			SubmissionCounts: api.counts, FetchedAt: checkedAt,
		}); err != nil {
			return nil, checkedAt, fmt.Errorf("record study snapshot: %w", err)
		}
	}
	return cands, checkedAt, nil
}

// apiStudy is what Prolific says about one study: the study, its
// submission counts and its listed submissions.
type apiStudy struct {
	study  prolific.Study
	counts map[string]int
	listed []prolific.Submission
}

// readStudy reads a study, its counts and its submissions from Prolific,
// each call after the shared rate limit.
func (r *Reconciler) readStudy(ctx context.Context, id string, sum *Summary) (apiStudy, error) {
	var out apiStudy
	if err := r.wait(ctx); err != nil {
		return out, err
	}
	st, err := r.api.Study(ctx, id)
	if err != nil {
		return out, fmt.Errorf("read study: %w", err)
	}
	out.study = st
	sum.Pages++
	if err := r.wait(ctx); err != nil {
		return out, err
	}
	if out.counts, err = r.api.SubmissionCounts(ctx, id); err != nil {
		return out, fmt.Errorf("read submission counts: %w", err)
	}
	sum.Pages++
	for page := 1; page <= maxSubmissionPages; page++ {
		if err := r.wait(ctx); err != nil {
			return out, err
		}
		subs, err := r.api.StudySubmissions(ctx, id, page, r.opts.SubmissionsPageSize)
		if err != nil {
			return out, fmt.Errorf("list submissions, page %d: %w", page, err)
		}
		sum.Pages++
		out.listed = append(out.listed, subs...)
		if len(subs) < r.opts.SubmissionsPageSize {
			break
		}
	}
	return out, nil
}

// compareSubmissions returns a candidate for each listed submission of
// study id whose stored status differs (none when a webhook newer than the
// listing settled it), and records the study of a matching submission
// stored without one (unless dry-run).
func (r *Reconciler) compareSubmissions(ctx context.Context, id string, listed []prolific.Submission, req Request,
	checkedAt time.Time) ([]candidate, error) {
	rows, err := r.st.Submissions(ctx, id, store.MaxLimit)
	if err != nil {
		return nil, fmt.Errorf("read stored submissions: %w", err)
	}
	byID := make(map[string]*store.Submission, len(rows))
	for i := range rows {
		byID[rows[i].ID] = &rows[i]
	}
	var cands []candidate
	for _, s := range listed {
		if s.ID == "" || s.Status == "" {
			continue
		}
		row := byID[s.ID]
		if row == nil {
			if row, err = r.st.Submission(ctx, s.ID); errors.Is(err, store.ErrNotFound) {
				row = nil
			} else if err != nil {
				return nil, fmt.Errorf("read stored submission %s: %w", s.ID, err)
			}
		}
		if row != nil && row.Status == s.Status {
			if row.StudyID == "" && !req.DryRun {
				if err := r.st.SetSubmissionStudy(ctx, s.ID, id); err != nil {
					return nil, fmt.Errorf("record study of submission %s: %w", s.ID, err)
				}
			}
			continue
		}
		if row != nil && row.StatusAt.After(checkedAt) {
			continue // a webhook newer than this listing
		}
		c := candidate{kind: KindSubmission, studyID: id, id: s.ID, participantID: s.ParticipantID,
			status: s.Status, checkedAt: checkedAt}
		if row != nil {
			c.previous = row.Status
		}
		cands = append(cands, c)
	}
	return cands, nil
}

// correct records c unless a webhook settled it meanwhile: a synthetic
// event through store.Save, so the projection moves by the ordering rule.
func (r *Reconciler) correct(ctx context.Context, c candidate, dryRun bool, sum *Summary) error {
	eventType := prolific.EventSubmissionStatusChange
	if c.kind == KindStudy {
		eventType = prolific.EventStudyStatusChange
	} else if !dryRun {
		row, err := r.st.Submission(ctx, c.id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return fmt.Errorf("re-read submission %s: %w", c.id, err)
		case row.Status == c.status || row.StatusAt.After(c.checkedAt):
			return nil // the webhook arrived while we waited
		}
	}
	if dryRun {
		sum.Corrections++
		r.logCorrection(c, true)
		return nil
	}
	participant := c.participantID
	if c.kind == KindStudy {
		participant = ""
	}
	ev := synthetic(eventType, c.id, participant, c.studyID, c.status, c.previous, c.checkedAt, r.opts.Now())
	out, err := r.st.Save(ctx, ev)
	if err != nil {
		r.opts.Metrics.event(store.SourceReconcile, outcomeError)
		return fmt.Errorf("store correction of %s %s: %w", c.kind, c.id, err)
	}
	if out == store.Duplicate {
		r.opts.Metrics.event(store.SourceReconcile, outcomePresent)
		return nil
	}
	r.opts.Metrics.event(store.SourceReconcile, outcomeStored)
	r.opts.Metrics.corrected(c.kind)
	sum.Corrections++
	r.logCorrection(c, false)
	return nil
}

func (r *Reconciler) logCorrection(c candidate, dryRun bool) {
	r.opts.Log.Info().Str("kind", c.kind).Str("study_id", c.studyID).Str("resource_id", c.id).
		Str("previous_status", c.previous).Str("status", c.status).Bool("dry_run", dryRun).
		Msg("reconcile: the store differed from Prolific's API; corrected")
}
