package enrich

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// A study's roster: when a submission lookup finds its study while other
// jobs wait in the queue (a burst of submissions, typically right after a
// study is published or during a bulk review), the worker also lists that
// study's submissions (GET /api/v1/submissions/?study=ID, up to
// RosterPages pages of prolific.SubmissionsPageSize) and records the study
// of every stored submission that lacks one. Their own lookup jobs then
// find the study known and complete without an API call. A lone submission
// costs one lookup as before, and a study is listed at most once per
// RosterEvery, so a steady trickle of new participants does not list a
// large study again and again (docs/enrichment.md).

// Defaults of the roster options.
const (
	DefaultRosterEvery = time.Minute
	DefaultRosterPages = 5
)

// rosters remembers when each study was last listed.
type rosters struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// due reports whether study may be listed at now, and if so records now as
// its listing time. Entries older than every are dropped as the map grows.
func (r *rosters) due(study string, now time.Time, every time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.last[study]; ok && now.Sub(t) < every {
		return false
	}
	if r.last == nil {
		r.last = map[string]time.Time{}
	}
	if len(r.last) >= 1024 {
		for id, t := range r.last {
			if now.Sub(t) >= every {
				delete(r.last, id)
			}
		}
	}
	r.last[study] = now
	return true
}

// storedStudy returns the study the store holds for a submission ("" when
// none yet) and whether the submission is stored at all.
func (w *Worker) storedStudy(ctx context.Context, submissionID string) (study string, stored bool, err error) {
	s, err := w.store.Submission(ctx, submissionID)
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read submission: %w", err)
	}
	return s.StudyID, true, nil
}

// learnRoster lists study's submissions when other jobs wait and the study
// was not listed within RosterEvery, and records the study of each stored
// submission that has none. Its failures are logged, never returned: the
// lookup that called it has succeeded, and each submission still has its
// own lookup job.
func (w *Worker) learnRoster(ctx context.Context, study string) {
	if w.opts.RosterPages <= 0 {
		return
	}
	q, err := w.store.QueueStats(ctx)
	if err != nil || q.Depth <= w.opts.Concurrency {
		return // nothing waits beyond the jobs running now
	}
	if !w.rosters.due(study, w.opts.Now(), w.opts.RosterEvery) {
		return
	}
	learned, err := w.listRoster(ctx, study)
	log := w.opts.Log.With().Str("study", study).Int("learned", learned).Logger()
	if err != nil {
		if errors.Is(err, prolific.ErrRateLimited) {
			w.lim.RateLimited() // as a job's 429 would: every caller pauses
		}
		log.Warn().Err(err).Msg("enrichment: listing a study's submissions failed; their lookups go on one by one")
		return
	}
	log.Debug().Msg("enrichment: learned submissions' study from its listing")
}

// listRoster reads up to RosterPages pages of study's submissions and
// records the study of the stored submissions without one, each page's in
// one store transaction; it returns how many it recorded.
func (w *Worker) listRoster(ctx context.Context, study string) (int, error) {
	learned := 0
	for page := 1; page <= w.opts.RosterPages; page++ {
		subs, err := limitedCall(ctx, w.lim, "list study submissions", func(ctx context.Context, id string) ([]prolific.Submission, error) {
			return w.api.StudySubmissions(ctx, id, page, prolific.SubmissionsPageSize)
		}, study)
		if err != nil {
			return learned, err
		}
		var unknown []string
		for _, s := range subs {
			if s.ID == "" || (s.StudyID != "" && s.StudyID != study) {
				continue
			}
			known, stored, err := w.storedStudy(ctx, s.ID)
			if err != nil {
				return learned, err
			}
			if known != "" || !stored {
				continue // not stored: its webhook, if any, brings its own job
			}
			unknown = append(unknown, s.ID)
		}
		if err := w.store.SetSubmissionsStudy(ctx, study, unknown); err != nil {
			return learned, fmt.Errorf("list study submissions: %w", err)
		}
		learned += len(unknown)
		if len(subs) < prolific.SubmissionsPageSize {
			break
		}
	}
	return learned, nil
}
