package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

func testConcurrentSaves(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	goroutines, perGoroutine := 50, 40
	if raceEnabled {
		perGoroutine = 8
	}
	events := make([]*store.Event, 0, goroutines*perGoroutine)
	for g := range goroutines {
		for i := range perGoroutine {
			events = append(events, NewEvent(submissionEvent, fmt.Sprintf("sub-%d-%d", g, i%10), "ACTIVE", at(i)))
		}
	}
	// Every tenth event is delivered twice.
	var dups []*store.Event
	for i := 0; i < len(events); i += 10 {
		d := *events[i]
		dups = append(dups, &d)
	}
	all := append(append([]*store.Event(nil), events...), dups...)
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	outcomes := saveAll(t, s, all, goroutines)
	stored, dup := 0, 0
	seqs := map[int64]bool{}
	for i, o := range outcomes {
		switch o {
		case store.Stored:
			stored++
			if all[i].Seq <= 0 || seqs[all[i].Seq] {
				t.Errorf("stored event has Seq %d (zero or reused)", all[i].Seq)
			}
			seqs[all[i].Seq] = true
		case store.Duplicate:
			dup++
		default:
			t.Errorf("outcome %v", o)
		}
	}
	if stored != len(events) || dup != len(dups) {
		t.Errorf("stored, duplicate = %d, %d; want %d, %d", stored, dup, len(events), len(dups))
	}
	if got := len(mustEvents(t, s, store.EventFilter{})); got != 100 {
		t.Errorf("Events with Limit 0 returned %d, want the default 100", got)
	}
	// Under -race fewer events are saved than MaxLimit; the cap is then
	// checked only by the run without the race detector.
	got := mustEvents(t, s, store.EventFilter{Limit: 5000})
	if want := min(len(events), store.MaxLimit); len(got) != want {
		t.Errorf("Events with Limit 5000 returned %d, want %d (MaxLimit %d)", len(got), want, store.MaxLimit)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq >= got[i-1].Seq {
			t.Fatalf("Events not newest first: Seq %d after %d", got[i].Seq, got[i-1].Seq)
		}
	}
}

func testConcurrentShuffledTimestamps(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	statuses := []string{"RESERVED", "ACTIVE", "AWAITING REVIEW", "APPROVED"}
	n := 200
	if raceEnabled {
		n = 60
	}
	var events []*store.Event
	for i := range n {
		// Times rise with the lifecycle; several events share a second.
		events = append(events, NewEvent(submissionEvent, "sub-1", statuses[i*len(statuses)/n], at(i/3)))
		events = append(events, NewEvent(studyStatus, "study-1", []string{"ACTIVE", "PAUSED", "AWAITING REVIEW"}[i*3/n], at(i/3)))
	}
	rand.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	saveAll(t, s, events, 20)
	sub := mustSubmission(t, s, "sub-1")
	if sub.Status != "APPROVED" || !sub.StatusAt.Equal(at((n-1)/3)) {
		t.Errorf("submission = %q at %v, want APPROVED at %v", sub.Status, sub.StatusAt, at((n-1)/3))
	}
	st := mustStudy(t, s, "study-1")
	if st.Status != "AWAITING REVIEW" || !st.StatusAt.Equal(at((n-1)/3)) || !st.LastEventAt.Equal(at((n-1)/3)) {
		t.Errorf("study = %q at %v (last event %v), want AWAITING REVIEW at %v", st.Status, st.StatusAt, st.LastEventAt, at((n-1)/3))
	}
}

func testClosed(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{Enrich: true})
	kept := NewEvent(studyStatus, "study-1", "ACTIVE", at(0))
	mustSave(t, s, kept, store.Stored)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c := ctx(t)
	calls := map[string]func() error{
		"Save": func() error {
			_, err := s.Save(c, NewEvent(studyStatus, "study-1", "COMPLETED", at(1)))
			return err
		},
		"Event":       func() error { _, err := s.Event(c, kept.ID); return err },
		"Events":      func() error { _, err := s.Events(c, store.EventFilter{}); return err },
		"Study":       func() error { _, err := s.Study(c, "study-1"); return err },
		"Studies":     func() error { _, err := s.Studies(c, store.StudyFilter{}); return err },
		"Submission":  func() error { _, err := s.Submission(c, "sub-1"); return err },
		"Submissions": func() error { _, err := s.Submissions(c, "study-1", 0); return err },
		"ClaimJobs":   func() error { _, err := s.ClaimJobs(c, "w", 1, time.Minute); return err },
		"CompleteJob": func() error { return s.CompleteJob(c, "w", store.Job{Kind: store.JobRefreshStudy, Key: "study-1"}) },
		"RetryJob": func() error {
			return s.RetryJob(c, "w", store.Job{Kind: store.JobRefreshStudy, Key: "study-1"}, at(0), "x")
		},
		"ApplyStudySnapshot": func() error {
			return s.ApplyStudySnapshot(c, store.StudySnapshot{ID: "study-1", FetchedAt: at(0)})
		},
		"SetSubmissionStudy": func() error { return s.SetSubmissionStudy(c, "sub-1", "study-1") },
		"QueueStats":         func() error { _, err := s.QueueStats(c); return err },
		"Ping":               func() error { return s.Ping(c) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: error %v, want %v", name, err, store.ErrClosed)
		}
	}
}

func testPing(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	if err := s.Ping(ctx(t)); err != nil {
		t.Errorf("Ping on an open store: %v", err)
	}
}
