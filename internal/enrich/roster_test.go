package enrich_test

import (
	"context"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/enrich"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
)

// simulated runs a study of places participants on fake and returns its ID
// and its submissions' final statuses.
func simulated(t *testing.T, fake *prolifictest.Fake, places int) (string, map[string]string) {
	t.Helper()
	res, err := fake.SimulateStudy(context.Background(), prolifictest.SimConfig{
		WorkspaceID: workspace, Name: "Roster", Places: places, ReturnRate: 0.1, Seed: 11,
	})
	if err != nil {
		t.Fatalf("SimulateStudy: %v", err)
	}
	st, ok := fake.StudyState(res.StudyID)
	if !ok {
		t.Fatalf("StudyState(%s): not found", res.StudyID)
	}
	return res.StudyID, st.Submissions
}

// runBurst stores one event for each submission of a simulated study of
// places participants (the study's listing first answering failListing,
// when not 0) and starts a worker with opts on them.
func runBurst(t *testing.T, places, failListing int, opts enrich.Options) (*prolifictest.Fake, *sqlite.DB, string, map[string]string) {
	t.Helper()
	fake := newFake(t, prolifictest.Options{})
	study, subs := simulated(t, fake, places)
	if failListing != 0 {
		fake.FailNext(prolifictest.RouteGetSubmissions, failListing, 1)
	}
	db := openStore(t, "", store.Options{Debounce: 20 * time.Millisecond})
	saveSubmissions(t, db, subs, time.Now().Add(-time.Minute))
	start(t, enrich.New(db, newClient(fake), opts))
	return fake, db, study, subs
}

// A burst of submissions of one study costs a few lookups and one listing
// of the study, not one lookup per submission; every submission still ends
// with its study.
func TestRosterLearnsABurst(t *testing.T) {
	fake, db, study, subs := runBurst(t, 60, 0, fastOptions())
	waitEmpty(t, db, 20*time.Second)

	checkStudies(t, db, study, subs)
	lookups, listings := fake.Requests(prolifictest.RouteGetSubmission), fake.Requests(prolifictest.RouteGetSubmissions)
	if lookups > 2*enrich.DefaultConcurrency || listings != 1 {
		t.Errorf("%d submissions: %d lookups and %d listings; want at most %d lookups and one listing",
			len(subs), lookups, listings, 2*enrich.DefaultConcurrency)
	}
}

// A lone submission is looked up by itself: nothing else waits, so its
// study is not listed.
func TestRosterNotForALoneSubmission(t *testing.T) {
	fake := newFake(t, prolifictest.Options{})
	study, subs := simulated(t, fake, 3)
	var one string
	for sub := range subs {
		one = sub
		break
	}
	db := openStore(t, "", store.Options{Debounce: 20 * time.Millisecond})
	saveSubmissions(t, db, map[string]string{one: subs[one]}, time.Now().Add(-time.Minute))
	start(t, enrich.New(db, newClient(fake), fastOptions()))
	waitEmpty(t, db, 10*time.Second)

	checkStudies(t, db, study, map[string]string{one: subs[one]})
	if lookups, listings := fake.Requests(prolifictest.RouteGetSubmission), fake.Requests(prolifictest.RouteGetSubmissions); lookups != 1 || listings != 0 {
		t.Errorf("one submission: %d lookups and %d listings; want 1 and 0", lookups, listings)
	}
}

// When the listing fails, the burst's submissions are looked up one by one
// as before: every one ends with its study, and the study is not listed
// again within RosterEvery.
func TestRosterFailureFallsBackToLookups(t *testing.T) {
	fake, db, study, subs := runBurst(t, 20, 500, fastOptions())
	waitEmpty(t, db, 20*time.Second)

	checkStudies(t, db, study, subs)
	if lookups, listings := fake.Requests(prolifictest.RouteGetSubmission), fake.Requests(prolifictest.RouteGetSubmissions); lookups != len(subs) || listings != 1 {
		t.Errorf("%d submissions, listing failed: %d lookups and %d listings; want %d and 1", len(subs), lookups, listings, len(subs))
	}
}

// With RosterPages < 0 a burst is looked up one submission at a time.
func TestRosterOff(t *testing.T) {
	opts := fastOptions()
	opts.RosterPages = -1
	fake, db, study, subs := runBurst(t, 10, 0, opts)
	waitEmpty(t, db, 20*time.Second)

	checkStudies(t, db, study, subs)
	if lookups, listings := fake.Requests(prolifictest.RouteGetSubmission), fake.Requests(prolifictest.RouteGetSubmissions); lookups != len(subs) || listings != 0 {
		t.Errorf("rosters off: %d lookups and %d listings; want %d and 0", lookups, listings, len(subs))
	}
}

// A 429 on the listing pauses every caller of the shared limiter, as a
// job's 429 does, though the lookup that listed has succeeded.
func TestRosterRateLimitedPauses(t *testing.T) {
	opts := fastOptions()
	opts.Limiter = prolific.NewLimiter(prolific.LimiterOptions{RatePerSecond: 1000, Burst: 100, Pause: time.Second})
	fake, db, study, subs := runBurst(t, 20, 429, opts)
	waitFor(t, 10*time.Second, "the listing's 429", func() bool { return fake.Requests(prolifictest.RouteGetSubmissions) == 1 })
	waitFor(t, 10*time.Second, "a pause after the listing's 429", func() bool { return opts.Limiter.PausedUntil().After(time.Now()) })
	waitEmpty(t, db, 20*time.Second)
	checkStudies(t, db, study, subs)
}
