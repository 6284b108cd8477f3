package enrich

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/prolific-receiver/receiver/internal/backoff"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// Job results, the values of the result label of receiver_enrichment_jobs_total.
const (
	ResultOK      = "ok"
	ResultRetry   = "retry"
	ResultDropped = "dropped"
)

// releaseTimeout bounds the store write that completes, retries or releases
// a job, which must run even while the worker shuts down.
const releaseTimeout = 5 * time.Second

// errPermanent marks a failure that no retry can fix.
var errPermanent = errors.New("permanent failure")

// handle runs one claimed job and records its outcome in the store.
func (w *Worker) handle(ctx context.Context, j store.Job) {
	timeout := w.opts.JobTimeout
	if _, ok := w.opts.Handlers[j.Kind]; ok {
		timeout = w.opts.Lease * 9 / 10
	}
	jctx, cancel := context.WithTimeout(ctx, timeout)
	err := w.process(jctx, j)
	cancel()

	// The job must be completed or released even when ctx was cancelled.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer rcancel()
	log := w.opts.Log.With().Str("kind", j.Kind).Str("key", j.Key).Int("attempt", j.Attempts).Logger()

	switch {
	case err == nil:
		w.opts.Metrics.job(j.Kind, ResultOK)
		if cerr := w.store.CompleteJob(rctx, w.opts.Owner, j); cerr != nil {
			log.Error().Err(cerr).Msg("enrichment: completing job failed; it runs again after its lease")
		}
	case ctx.Err() != nil:
		// Shutting down: hand the job back at once, not after its lease.
		if rerr := w.store.RetryJob(rctx, w.opts.Owner, j, w.opts.Now(), "worker stopped"); rerr != nil {
			log.Warn().Err(rerr).Msg("enrichment: releasing job at shutdown failed; it runs again after its lease")
		}
	case errors.Is(err, prolific.ErrNotFound) || errors.Is(err, errPermanent):
		w.opts.Metrics.job(j.Kind, ResultDropped)
		log.Warn().Err(err).Msg("enrichment: dropping job that cannot succeed")
		if cerr := w.store.CompleteJob(rctx, w.opts.Owner, j); cerr != nil {
			log.Error().Err(cerr).Msg("enrichment: completing dropped job failed")
		}
	default:
		w.opts.Metrics.job(j.Kind, ResultRetry)
		retryAt := w.opts.Now().Add(w.backoff(j.Attempts))
		if errors.Is(err, prolific.ErrRateLimited) {
			if until := w.lim.RateLimited(); until.After(retryAt) {
				retryAt = until
			}
		}
		log.Warn().Err(err).Time("retry_at", retryAt).Msg("enrichment: job failed; will retry")
		if rerr := w.store.RetryJob(rctx, w.opts.Owner, j, retryAt, err.Error()); rerr != nil {
			log.Error().Err(rerr).Msg("enrichment: rescheduling job failed; it runs again after its lease")
		}
	}
}

// process does the job's work.
func (w *Worker) process(ctx context.Context, j store.Job) error {
	switch j.Kind {
	case store.JobRefreshStudy:
		return w.refreshStudy(ctx, j.Key)
	case store.JobLookupSubmission:
		return w.lookupSubmission(ctx, j.Key)
	}
	if h, ok := w.opts.Handlers[j.Kind]; ok {
		return h(ctx, j.Key)
	}
	return fmt.Errorf("unknown job kind %q: %w", j.Kind, errPermanent)
}

// refreshStudy fetches a study and its submission counts and records them.
func (w *Worker) refreshStudy(ctx context.Context, id string) error {
	fetchedAt := w.opts.Now()
	st, err := limitedCall(ctx, w.lim, "refresh study", w.api.Study, id)
	if err != nil {
		return err
	}
	counts, err := limitedCall(ctx, w.lim, "refresh study", w.api.SubmissionCounts, id)
	if err != nil {
		return err
	}
	delete(counts, "TOTAL")
	snap := store.StudySnapshot{
		ID: id, Name: st.Name, Status: st.Status,
		PlacesTaken: st.PlacesTaken, PlacesTotal: st.TotalAvailablePlaces,
		NumberOfSubmissions: st.NumberOfSubmissions, SubmissionCounts: counts,
		FetchedAt: fetchedAt,
	}
	if err := w.store.ApplyStudySnapshot(ctx, snap); err != nil {
		return fmt.Errorf("refresh study: %w", err)
	}
	return nil
}

// limitedCall makes one API call about id within the shared budget: it
// waits for lim, and tells it of an answer (a 404 too: like a success, it
// resets the 429 pause's doubling); an error from the call is wrapped with
// what.
func limitedCall[T any](ctx context.Context, lim *prolific.Limiter, what string, call func(context.Context, string) (T, error), id string) (T, error) {
	var zero T
	if err := lim.Wait(ctx); err != nil {
		return zero, err
	}
	v, err := call(ctx, id)
	if !errors.Is(err, prolific.ErrRateLimited) { // a 429 is reported with the job's retry
		lim.Observe(err)
	}
	if err != nil {
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// lookupSubmission learns a submission's study, which queues that study's
// refresh. A submission whose study is already stored (learned from its
// study's listing, roster.go) needs no call; a lookup made while other jobs
// wait may list the study to learn the rest of a burst at once.
func (w *Worker) lookupSubmission(ctx context.Context, id string) error {
	if known, _, err := w.storedStudy(ctx, id); err != nil {
		return fmt.Errorf("look up submission: %w", err)
	} else if known != "" {
		return nil
	}
	sub, err := limitedCall(ctx, w.lim, "look up submission", w.api.Submission, id)
	if err != nil {
		return err
	}
	if sub.StudyID == "" {
		return fmt.Errorf("look up submission: API answered without a study id: %w", errPermanent)
	}
	if err := w.store.SetSubmissionStudy(ctx, id, sub.StudyID); err != nil {
		return fmt.Errorf("look up submission: %w", err)
	}
	w.learnRoster(ctx, sub.StudyID)
	return nil
}

// backoff is the delay before attempt number attempts+1 of a failed job:
// BackoffBase·2^(attempts-1) capped at BackoffMax (backoff.Bound), then
// "equal jitter" (a random point in its upper half) so failed jobs do not
// retry in lockstep.
func (w *Worker) backoff(attempts int) time.Duration {
	d := backoff.Bound(w.opts.BackoffBase, w.opts.BackoffMax, attempts)
	half := d / 2
	return half + rand.N(half+1)
}
