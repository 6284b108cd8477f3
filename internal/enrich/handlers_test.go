package enrich_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/enrich"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/store"
)

// A job of a Handlers kind runs with its key under the worker's lease, and
// while it runs (a reconciliation pass may take minutes) enrichment jobs
// go on being claimed and done.
func TestHandlersRunBesideEnrichment(t *testing.T) {
	fake := newFake(t, prolifictest.Options{})
	studyID, err := fake.CreateStudy(workspace, "", "Beside", 5)
	if err != nil {
		t.Fatal(err)
	}
	db := openStore(t, "", store.Options{Debounce: 10 * time.Millisecond})
	release := make(chan struct{})
	var gotKey atomic.Value
	var finished atomic.Bool
	opts := fastOptions()
	opts.Handlers = map[string]func(context.Context, string) error{
		store.JobReconcile: func(ctx context.Context, key string) error {
			gotKey.Store(key)
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			finished.Store(true)
			return nil
		},
	}
	stop := start(t, enrich.New(db, newClient(fake), opts))
	if err := db.EnqueueJob(context.Background(), store.JobReconcile, "pass", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the handler to start", func() bool { return gotKey.Load() != nil })
	save(t, db, studyEvent("study.status.change", studyID, "ACTIVE", time.Now()))
	waitFor(t, 5*time.Second, "the study refresh while the handler runs", func() bool {
		s, err := db.Study(context.Background(), studyID)
		return err == nil && !s.RefreshedAt.IsZero()
	})
	if finished.Load() {
		t.Fatal("handler finished before it was released")
	}
	close(release)
	waitFor(t, 5*time.Second, "the handler's job to complete", func() bool {
		jobs, err := db.ClaimJobs(context.Background(), "probe", 10, time.Millisecond)
		return err == nil && len(jobs) == 0 && finished.Load()
	})
	if k := gotKey.Load(); k != "pass" {
		t.Errorf("handler got key %v, want pass", k)
	}
	stop()
}
