package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// step is one delivery in an ordering case: a status at T0 + sec seconds.
type step struct {
	status string
	sec    int
}

type orderingCase struct {
	name       string
	steps      []step // saved in this order
	wantStatus string
	wantSec    int
}

var studyOrderingCases = []orderingCase{
	{"newer applies", []step{{"ACTIVE", 0}, {"AWAITING REVIEW", 10}}, "AWAITING REVIEW", 10},
	{"older after newer ignored", []step{{"COMPLETED", 10}, {"ACTIVE", 5}}, "COMPLETED", 10},
	{"newer wins even if earlier stage", []step{{"PAUSED", 0}, {"ACTIVE", 1}}, "ACTIVE", 1},
	{"tie: later stage wins, in order", []step{{"ACTIVE", 5}, {"AWAITING REVIEW", 5}}, "AWAITING REVIEW", 5},
	{"tie: later stage wins, reversed", []step{{"AWAITING REVIEW", 5}, {"ACTIVE", 5}}, "AWAITING REVIEW", 5},
	{"tie: equal rank keeps first", []step{{"ACTIVE", 5}, {"PAUSED", 5}}, "ACTIVE", 5},
	{"tie: equal rank keeps first, reversed", []step{{"PAUSED", 5}, {"ACTIVE", 5}}, "PAUSED", 5},
	{"tie: unknown status does not win", []step{{"ACTIVE", 5}, {"MYSTERY", 5}}, "ACTIVE", 5},
	{"unknown status applies when newer", []step{{"ACTIVE", 5}, {"MYSTERY", 6}}, "MYSTERY", 6},
}

var submissionOrderingCases = []orderingCase{
	{"newer applies", []step{{"ACTIVE", 0}, {"AWAITING REVIEW", 10}}, "AWAITING REVIEW", 10},
	{"older after newer ignored", []step{{"APPROVED", 10}, {"ACTIVE", 5}}, "APPROVED", 10},
	{"tie: later stage wins, reversed", []step{{"APPROVED", 5}, {"AWAITING REVIEW", 5}}, "APPROVED", 5},
	{"tie: later stage wins, in order", []step{{"RESERVED", 5}, {"ACTIVE", 5}}, "ACTIVE", 5},
	{"tie: equal rank keeps first", []step{{"RETURNED", 5}, {"TIMED-OUT", 5}}, "RETURNED", 5},
	{"newer lower stage applies", []step{{"APPROVED", 5}, {"REJECTED", 6}}, "REJECTED", 6},
}

func testStudyOrdering(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	for _, tc := range studyOrderingCases {
		id := "study-" + tc.name
		for _, st := range tc.steps {
			mustSave(t, s, NewEvent(studyStatus, id, st.status, at(st.sec)), store.Stored)
		}
		got := mustStudy(t, s, id)
		if got.Status != tc.wantStatus || !got.StatusAt.Equal(at(tc.wantSec)) {
			t.Errorf("%s: study = %q at %v, want %q at %v", tc.name, got.Status, got.StatusAt, tc.wantStatus, at(tc.wantSec))
		}
		wantLast := 0
		for _, st := range tc.steps {
			wantLast = max(wantLast, st.sec)
		}
		if !got.LastEventAt.Equal(at(wantLast)) {
			t.Errorf("%s: LastEventAt = %v, want %v", tc.name, got.LastEventAt, at(wantLast))
		}
	}
}

func testSubmissionOrdering(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	for _, tc := range submissionOrderingCases {
		id := "sub-" + tc.name
		for _, st := range tc.steps {
			mustSave(t, s, NewEvent(submissionEvent, id, st.status, at(st.sec)), store.Stored)
		}
		got := mustSubmission(t, s, id)
		if got.Status != tc.wantStatus || !got.StatusAt.Equal(at(tc.wantSec)) {
			t.Errorf("%s: submission = %q at %v, want %q at %v", tc.name, got.Status, got.StatusAt, tc.wantStatus, at(tc.wantSec))
		}
		if got.ParticipantID != "p-"+id {
			t.Errorf("%s: ParticipantID = %q, want %q", tc.name, got.ParticipantID, "p-"+id)
		}
	}
}

func testHighReturnRate(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	mustSave(t, s, NewEvent(studyStatus, "study-1", "ACTIVE", at(0)), store.Stored)
	for i := range 3 {
		mustSave(t, s, NewEvent(studyHighReturn, "study-1", "", at(10-i)), store.Stored)
	}
	got := mustStudy(t, s, "study-1")
	if got.HighReturnRateEvents != 3 {
		t.Errorf("HighReturnRateEvents = %d, want 3", got.HighReturnRateEvents)
	}
	if got.Status != "ACTIVE" || !got.StatusAt.Equal(at(0)) {
		t.Errorf("status = %q at %v, want ACTIVE at %v (untouched)", got.Status, got.StatusAt, at(0))
	}
	if !got.LastEventAt.Equal(at(10)) {
		t.Errorf("LastEventAt = %v, want %v", got.LastEventAt, at(10))
	}
	// The counter also creates a study first seen through it.
	mustSave(t, s, NewEvent(studyHighReturn, "study-2", "", at(0)), store.Stored)
	if got := mustStudy(t, s, "study-2"); got.HighReturnRateEvents != 1 || got.Status != "" {
		t.Errorf("new study = %d events, status %q; want 1, \"\"", got.HighReturnRateEvents, got.Status)
	}
}

func testProgressTouchesStudy(t *testing.T, open OpenFunc) {
	clock := NewClock(T0.Add(time.Hour))
	s := open(t, store.Options{Now: clock.Now})
	mustSave(t, s, NewEvent(studyProgress, "study-1", "", at(5)), store.Stored)
	got := mustStudy(t, s, "study-1")
	if got.Status != "" || !got.StatusAt.IsZero() {
		t.Errorf("progress-only study status = %q at %v, want none", got.Status, got.StatusAt)
	}
	if !got.LastEventAt.Equal(at(5)) || !got.UpdatedAt.Equal(clock.Now()) {
		t.Errorf("LastEventAt, UpdatedAt = %v, %v; want %v, %v", got.LastEventAt, got.UpdatedAt, at(5), clock.Now())
	}
	mustSave(t, s, NewEvent(studyStatus, "study-1", "ACTIVE", at(3)), store.Stored)
	clock.Advance(time.Minute)
	mustSave(t, s, NewEvent(studyProgress, "study-1", "", at(1)), store.Stored) // older: last_event_at stays
	got = mustStudy(t, s, "study-1")
	if got.Status != "ACTIVE" || !got.LastEventAt.Equal(at(5)) {
		t.Errorf("study = %q, LastEventAt %v; want ACTIVE, %v", got.Status, got.LastEventAt, at(5))
	}
	if !got.UpdatedAt.Equal(clock.Now()) {
		t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, clock.Now())
	}
	mustSave(t, s, NewEvent(studyProgress, "study-1", "", at(9)), store.Stored)
	if got := mustStudy(t, s, "study-1"); !got.LastEventAt.Equal(at(9)) {
		t.Errorf("LastEventAt = %v, want %v", got.LastEventAt, at(9))
	}
}

func testSubmissionStudyMapping(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	early := NewEvent(submissionEvent, "sub-1", "ACTIVE", at(1))
	mustSave(t, s, early, store.Stored)
	if early.StudyID != "" {
		t.Errorf("StudyID of an unmapped submission's event = %q, want empty", early.StudyID)
	}
	if got := mustSubmission(t, s, "sub-1"); got.StudyID != "" {
		t.Errorf("Submission.StudyID before mapping = %q, want empty", got.StudyID)
	}
	if _, err := s.Study(ctx(t), "study-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Study before mapping: error %v, want %v", err, store.ErrNotFound)
	}

	if err := s.SetSubmissionStudy(ctx(t), "sub-1", "study-1"); err != nil {
		t.Fatalf("SetSubmissionStudy: %v", err)
	}
	if got := mustSubmission(t, s, "sub-1"); got.StudyID != "study-1" || got.Status != "ACTIVE" {
		t.Errorf("Submission after mapping = study %q status %q, want study-1 ACTIVE", got.StudyID, got.Status)
	}
	if got := mustStudy(t, s, "study-1"); !got.LastEventAt.Equal(at(1)) {
		t.Errorf("mapped study LastEventAt = %v, want the submission's %v", got.LastEventAt, at(1))
	}
	// Earlier events of the submission are found by study.
	if got := ids(mustEvents(t, s, store.EventFilter{StudyID: "study-1"})); diff([]string{early.ID}, got) != "" {
		t.Errorf("Events(study-1) after mapping = %v, want [%s]", got, early.ID)
	}

	later := NewEvent(submissionEvent, "sub-1", "AWAITING REVIEW", at(7))
	mustSave(t, s, later, store.Stored)
	if later.StudyID != "study-1" {
		t.Errorf("later event StudyID = %q, want study-1 (filled in by Save)", later.StudyID)
	}
	stored, err := s.Event(ctx(t), later.ID)
	if err != nil || stored.StudyID != "study-1" {
		t.Errorf("stored later event = %+v, %v; want StudyID study-1", stored, err)
	}
	if got := mustStudy(t, s, "study-1"); !got.LastEventAt.Equal(at(7)) {
		t.Errorf("study LastEventAt after later submission event = %v, want %v", got.LastEventAt, at(7))
	}
	want := []string{later.ID, early.ID}
	if got := ids(mustEvents(t, s, store.EventFilter{StudyID: "study-1"})); diff(want, got) != "" {
		t.Errorf("Events(study-1) = %v, want %v", got, want)
	}
}

// testSubmissionsStudyMapping: several submissions mapped in one call are
// each mapped as SetSubmissionStudy maps one (their row, their earlier
// events, the study's last event), and the study gets one refresh job.
func testSubmissionsStudyMapping(t *testing.T, open OpenFunc) {
	s, clock := enrichStore(t, open)
	var early []*store.Event
	for i, sub := range []string{"sub-1", "sub-2", "sub-3"} {
		e := NewEvent(submissionEvent, sub, "ACTIVE", at(i+1))
		mustSave(t, s, e, store.Stored)
		early = append(early, e)
	}
	other := NewEvent(submissionEvent, "sub-other", "ACTIVE", at(8))
	mustSave(t, s, other, store.Stored)
	clock.Advance(debounce)
	for _, j := range claim(t, s, "w", 10) { // the submissions' own lookups
		complete(t, s, "w", j)
	}
	if err := s.SetSubmissionsStudy(ctx(t), "study-1", nil); err != nil {
		t.Fatalf("SetSubmissionsStudy with no submissions: %v", err)
	}
	if err := s.SetSubmissionsStudy(ctx(t), "study-1", []string{"sub-1", ""}); err == nil {
		t.Error("SetSubmissionsStudy with an empty ID: no error")
	}
	if err := s.SetSubmissionsStudy(ctx(t), "study-1", []string{"sub-3", "sub-1", "sub-2", "sub-new", "sub-1"}); err != nil {
		t.Fatalf("SetSubmissionsStudy: %v", err)
	}
	for _, sub := range []string{"sub-1", "sub-2", "sub-3", "sub-new"} {
		if got := mustSubmission(t, s, sub); got.StudyID != "study-1" {
			t.Errorf("%s: study %q after mapping, want study-1", sub, got.StudyID)
		}
	}
	if got := mustSubmission(t, s, "sub-other"); got.StudyID != "" {
		t.Errorf("sub-other: study %q, want none (not in the call)", got.StudyID)
	}
	if got := mustStudy(t, s, "study-1"); !got.LastEventAt.Equal(at(3)) {
		t.Errorf("study LastEventAt = %v, want the newest mapped submission's %v", got.LastEventAt, at(3))
	}
	want := []string{early[2].ID, early[1].ID, early[0].ID}
	if got := ids(mustEvents(t, s, store.EventFilter{StudyID: "study-1"})); diff(want, got) != "" {
		t.Errorf("Events(study-1) = %v, want %v", got, want)
	}
	clock.Advance(debounce)
	if d := diff([]string{"study:study-1"}, jobKeys(claim(t, s, "w", 10))); d != "" {
		t.Errorf("jobs after mapping mismatch (-want +got):\n%s", d)
	}
}
