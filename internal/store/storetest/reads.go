package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

func testEventsFilters(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	var all []*store.Event
	for i := range 6 {
		all = append(all,
			NewEvent(studyStatus, fmt.Sprint("study-", i%2), "ACTIVE", at(i)),
			NewEvent(studyProgress, fmt.Sprint("study-", i%2), "", at(i)),
			NewEvent(submissionEvent, fmt.Sprint("sub-", i%3), "ACTIVE", at(i)))
	}
	for _, e := range all {
		mustSave(t, s, e, store.Stored)
	}
	if err := s.SetSubmissionStudy(ctx(t), "sub-0", "study-0"); err != nil {
		t.Fatalf("SetSubmissionStudy: %v", err)
	}
	newestFirst := func(keep func(*store.Event) bool) []string {
		var out []string
		for i := len(all) - 1; i >= 0; i-- {
			if keep(all[i]) {
				out = append(out, all[i].ID)
			}
		}
		return out
	}
	tests := []struct {
		name   string
		filter store.EventFilter
		want   []string
	}{
		{"all", store.EventFilter{}, newestFirst(func(*store.Event) bool { return true })},
		{"type", store.EventFilter{Type: studyProgress}, newestFirst(func(e *store.Event) bool { return e.Type == studyProgress })},
		{"resource", store.EventFilter{ResourceID: "sub-1"}, newestFirst(func(e *store.Event) bool { return e.ResourceID == "sub-1" })},
		{"study", store.EventFilter{StudyID: "study-0"}, newestFirst(func(e *store.Event) bool {
			return e.ResourceID == "study-0" || e.ResourceID == "sub-0"
		})},
		{"type and resource", store.EventFilter{Type: studyStatus, ResourceID: "study-1"}, newestFirst(func(e *store.Event) bool {
			return e.Type == studyStatus && e.ResourceID == "study-1"
		})},
		{"limit", store.EventFilter{Limit: 4}, newestFirst(func(*store.Event) bool { return true })[:4]},
		{"before seq", store.EventFilter{BeforeSeq: all[5].Seq, Limit: 3}, []string{all[4].ID, all[3].ID, all[2].ID}},
		{"no match", store.EventFilter{Type: "nope"}, nil},
	}
	for _, tc := range tests {
		if d := diff(tc.want, ids(mustEvents(t, s, tc.filter))); d != "" {
			t.Errorf("%s: Events(%+v) mismatch (-want +got):\n%s", tc.name, tc.filter, d)
		}
	}

	// Paging with BeforeSeq walks every event exactly once.
	paged := pageAll(t, s, store.EventFilter{Limit: 5}, len(all))
	if d := diff(newestFirst(func(*store.Event) bool { return true }), paged); d != "" {
		t.Errorf("paging mismatch (-want +got):\n%s", d)
	}

	checkForwardFilters(t, s, all)
}

// checkForwardFilters checks the change feed over the events all, stored
// in order in s: oldest first after a seq, with the filters of Events.
func checkForwardFilters(t *testing.T, s store.Store, all []*store.Event) {
	t.Helper()
	oldestFirst := func(from int, keep func(*store.Event) bool) []string {
		var out []string
		for _, e := range all[from:] {
			if keep(e) {
				out = append(out, e.ID)
			}
		}
		return out
	}
	forward := []struct {
		name   string
		filter store.EventFilter
		want   []string
	}{
		{"from the start", store.EventFilter{Forward: true}, oldestFirst(0, func(*store.Event) bool { return true })},
		{"after seq", store.EventFilter{Forward: true, AfterSeq: all[5].Seq, Limit: 3}, []string{all[6].ID, all[7].ID, all[8].ID}},
		{"type", store.EventFilter{Forward: true, AfterSeq: all[1].Seq, Type: submissionEvent}, oldestFirst(2, func(e *store.Event) bool { return e.Type == submissionEvent })},
		{"before is ignored", store.EventFilter{Forward: true, BeforeSeq: all[2].Seq, Limit: 4}, oldestFirst(0, func(*store.Event) bool { return true })[:4]},
		{"past the newest", store.EventFilter{Forward: true, AfterSeq: all[len(all)-1].Seq}, nil},
	}
	for _, tc := range forward {
		if d := diff(tc.want, ids(mustEvents(t, s, tc.filter))); d != "" {
			t.Errorf("forward %s: Events(%+v) mismatch (-want +got):\n%s", tc.name, tc.filter, d)
		}
	}
	// Paging forward with the last seq seen walks every event exactly once.
	paged := pageAll(t, s, store.EventFilter{Forward: true, Limit: 5}, len(all))
	if d := diff(oldestFirst(0, func(*store.Event) bool { return true }), paged); d != "" {
		t.Errorf("forward paging mismatch (-want +got):\n%s", d)
	}
}

// pageAll lists events page by page from f, each page continuing from the
// last seq of the one before (BeforeSeq, or AfterSeq when f.Forward), for at
// most maxPages pages, and returns their IDs.
func pageAll(t *testing.T, s store.Store, f store.EventFilter, maxPages int) []string {
	t.Helper()
	var paged []string
	for range maxPages {
		page := mustEvents(t, s, f)
		if len(page) == 0 {
			break
		}
		paged = append(paged, ids(page)...)
		if f.Forward {
			f.AfterSeq = page[len(page)-1].Seq
		} else {
			f.BeforeSeq = page[len(page)-1].Seq
		}
	}
	return paged
}

func testStudiesOrderAndSeenSince(t *testing.T, open OpenFunc) {
	clock := NewClock(T0.Add(-3 * time.Hour))
	s := open(t, store.Options{Now: clock.Now})
	mustSave(t, s, NewEvent(studyProgress, "study-old", "", at(-4*3600)), store.Stored)
	mustSave(t, s, NewEvent(studyProgress, "study-new", "", at(60)), store.Stored)
	mustSave(t, s, NewEvent(studyStatus, "study-mid", "ACTIVE", at(0)), store.Stored)
	clock.Advance(2 * time.Hour)
	// Refreshed from the API: updated now, but its last event is old.
	if err := s.ApplyStudySnapshot(ctx(t), store.StudySnapshot{ID: "study-snap", Name: "S", FetchedAt: clock.Now()}); err != nil {
		t.Fatalf("ApplyStudySnapshot: %v", err)
	}
	list := func(f store.StudyFilter) []string {
		studies, err := s.Studies(ctx(t), f)
		if err != nil {
			t.Fatalf("Studies(%+v): %v", f, err)
		}
		var out []string
		for _, st := range studies {
			out = append(out, st.ID)
		}
		return out
	}
	if d := diff([]string{"study-new", "study-mid", "study-old", "study-snap"}, list(store.StudyFilter{})); d != "" {
		t.Errorf("Studies order mismatch (-want +got):\n%s", d)
	}
	if d := diff([]string{"study-new", "study-mid"}, list(store.StudyFilter{Limit: 2})); d != "" {
		t.Errorf("Studies limit 2 mismatch (-want +got):\n%s", d)
	}
	if d := diff([]string{"study-new", "study-mid", "study-snap"}, list(store.StudyFilter{SeenSince: clock.Now().Add(-30 * time.Minute)})); d != "" {
		t.Errorf("Studies SeenSince (last event or update) mismatch (-want +got):\n%s", d)
	}
	if d := diff([]string{"study-new", "study-mid"}, list(store.StudyFilter{SeenSince: at(0)})); d != "" {
		t.Errorf("Studies SeenSince T0 mismatch (-want +got):\n%s", d)
	}
}

func testSubmissionsByStudy(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	for i, id := range []string{"sub-a", "sub-b", "sub-c"} {
		mustSave(t, s, NewEvent(submissionEvent, id, "ACTIVE", at(i*10)), store.Stored)
		if err := s.SetSubmissionStudy(ctx(t), id, "study-1"); err != nil {
			t.Fatalf("SetSubmissionStudy: %v", err)
		}
	}
	mustSave(t, s, NewEvent(submissionEvent, "sub-a", "APPROVED", at(25)), store.Stored)
	mustSave(t, s, NewEvent(submissionEvent, "sub-other", "ACTIVE", at(99)), store.Stored)
	subs, err := s.Submissions(ctx(t), "study-1", 0)
	if err != nil {
		t.Fatalf("Submissions: %v", err)
	}
	var got []string
	for _, sub := range subs {
		got = append(got, sub.ID+" "+sub.Status)
	}
	if d := diff([]string{"sub-a APPROVED", "sub-c ACTIVE", "sub-b ACTIVE"}, got); d != "" {
		t.Errorf("Submissions(study-1) mismatch (-want +got):\n%s", d)
	}
	if subs, err := s.Submissions(ctx(t), "study-1", 1); err != nil || len(subs) != 1 {
		t.Errorf("Submissions(limit 1) = %d, %v; want 1 submission", len(subs), err)
	}
	if subs, err := s.Submissions(ctx(t), "study-none", 0); err != nil || len(subs) != 0 {
		t.Errorf("Submissions(unknown study) = %v, %v; want none", subs, err)
	}
}

func testSubmissionCounts(t *testing.T, open OpenFunc) {
	clock := NewClock(T0.Add(time.Hour))
	s := open(t, store.Options{Now: clock.Now})
	statuses := []string{"ACTIVE", "ACTIVE", "AWAITING REVIEW", "RETURNED"}
	for i, st := range statuses {
		id := fmt.Sprint("sub-", i)
		mustSave(t, s, NewEvent(submissionEvent, id, st, at(i)), store.Stored)
		if err := s.SetSubmissionStudy(ctx(t), id, "study-1"); err != nil {
			t.Fatalf("SetSubmissionStudy: %v", err)
		}
	}
	want := map[string]int{"ACTIVE": 2, "AWAITING REVIEW": 1, "RETURNED": 1}
	if d := diff(want, mustStudy(t, s, "study-1").SubmissionCounts); d != "" {
		t.Errorf("counts from the projection mismatch (-want +got):\n%s", d)
	}
	studies, err := s.Studies(ctx(t), store.StudyFilter{})
	if err != nil || len(studies) != 1 {
		t.Fatalf("Studies = %v, %v; want one study", studies, err)
	}
	if d := diff(want, studies[0].SubmissionCounts); d != "" {
		t.Errorf("Studies counts from the projection mismatch (-want +got):\n%s", d)
	}

	snap := store.StudySnapshot{
		ID: "study-1", Name: "Memory study", Status: "ACTIVE", PlacesTaken: 7, PlacesTotal: 50,
		NumberOfSubmissions: 9, SubmissionCounts: map[string]int{"APPROVED": 5, "ACTIVE": 4},
		FetchedAt: clock.Now(),
	}
	if err := s.ApplyStudySnapshot(ctx(t), snap); err != nil {
		t.Fatalf("ApplyStudySnapshot: %v", err)
	}
	got := mustStudy(t, s, "study-1")
	if d := diff(snap.SubmissionCounts, got.SubmissionCounts); d != "" {
		t.Errorf("counts after snapshot mismatch (-want +got):\n%s", d)
	}
	if got.Name != snap.Name || got.PlacesTaken != 7 || got.PlacesTotal != 50 || got.NumberOfSubmissions != 9 ||
		!got.RefreshedAt.Equal(snap.FetchedAt) {
		t.Errorf("study after snapshot = %+v, want name, places, submissions and RefreshedAt from %+v", got, snap)
	}
	studies, err = s.Studies(ctx(t), store.StudyFilter{})
	if err != nil || len(studies) != 1 {
		t.Fatalf("Studies = %v, %v; want one study", studies, err)
	}
	if d := diff(snap.SubmissionCounts, studies[0].SubmissionCounts); d != "" {
		t.Errorf("Studies counts after snapshot mismatch (-want +got):\n%s", d)
	}
}

func testSnapshotOrdering(t *testing.T, open OpenFunc) {
	clock := NewClock(at(100))
	s := open(t, store.Options{Now: clock.Now})
	mustSave(t, s, NewEvent(studyStatus, "study-1", "ACTIVE", at(10)), store.Stored)

	apply := func(snap store.StudySnapshot) {
		t.Helper()
		if err := s.ApplyStudySnapshot(ctx(t), snap); err != nil {
			t.Fatalf("ApplyStudySnapshot: %v", err)
		}
	}
	check := func(step, wantStatus string, wantAt time.Time, wantName string) {
		t.Helper()
		got := mustStudy(t, s, "study-1")
		if got.Status != wantStatus || !got.StatusAt.Equal(wantAt) || got.Name != wantName {
			t.Errorf("%s: study = %q at %v named %q, want %q at %v named %q",
				step, got.Status, got.StatusAt, got.Name, wantStatus, wantAt, wantName)
		}
	}
	apply(store.StudySnapshot{ID: "study-1", Name: "v1", Status: "AWAITING REVIEW", FetchedAt: at(20)})
	check("newer snapshot", "AWAITING REVIEW", at(20), "v1")

	mustSave(t, s, NewEvent(studyStatus, "study-1", "PAUSED", at(15)), store.Stored)
	check("event older than snapshot", "AWAITING REVIEW", at(20), "v1")

	mustSave(t, s, NewEvent(studyStatus, "study-1", "COMPLETED", at(30)), store.Stored)
	check("event newer than snapshot", "COMPLETED", at(30), "v1")

	apply(store.StudySnapshot{ID: "study-1", Name: "v2", Status: "ACTIVE", FetchedAt: at(25)})
	check("snapshot older than the status", "COMPLETED", at(30), "v2")

	// A snapshot fetched before the last applied one changes nothing.
	apply(store.StudySnapshot{ID: "study-1", Name: "v0", Status: "ACTIVE", FetchedAt: at(18),
		SubmissionCounts: map[string]int{"ACTIVE": 1}})
	check("stale snapshot", "COMPLETED", at(30), "v2")
	if got := mustStudy(t, s, "study-1"); !got.RefreshedAt.Equal(at(25)) || len(got.SubmissionCounts) != 0 {
		t.Errorf("stale snapshot: RefreshedAt %v, counts %v; want %v, none", got.RefreshedAt, got.SubmissionCounts, at(25))
	}

	apply(store.StudySnapshot{ID: "study-2", Name: "fresh", Status: "ACTIVE", FetchedAt: at(40)})
	got := mustStudy(t, s, "study-2")
	if got.Status != "ACTIVE" || !got.StatusAt.Equal(at(40)) || !got.LastEventAt.IsZero() {
		t.Errorf("snapshot-only study = %q at %v, last event %v; want ACTIVE at %v, no event", got.Status, got.StatusAt, got.LastEventAt, at(40))
	}
}

// testFeed: the change feed as the rules engine reads it. Only matching
// events, oldest first, without bodies; a submission event stored before
// its study was known carries the study the store knows now; Through says
// how far the feed was read, past events that did not match.
func testFeed(t *testing.T, open OpenFunc) {
	s := open(t, store.Options{})
	early := NewEvent(submissionEvent, "sub-1", "APPROVED", at(0))
	ping := NewEvent(studyProgress, "study-9", "", at(1))
	active := NewEvent(submissionEvent, "sub-2", "ACTIVE", at(2))
	study := NewEvent(studyStatus, "study-9", "COMPLETED", at(3))
	// A later event naming sub-1's study (as backfilled or reconciled
	// events do) teaches the store the study; the early event's row keeps
	// its empty study.
	later := NewEvent(submissionEvent, "sub-1", "AWAITING REVIEW", at(4))
	later.StudyID, later.Source = "study-1", store.SourceReconcile
	last := NewEvent(studyProgress, "study-9", "", at(5))
	all := []*store.Event{early, ping, active, study, later, last}
	for _, e := range all {
		mustSave(t, s, e, store.Stored)
	}
	match := []store.EventMatch{
		{Types: []string{submissionEvent}, Statuses: []string{"APPROVED", "AWAITING REVIEW"}},
		{Types: []string{studyStatus}},
	}
	feed := func(f store.FeedFilter) store.FeedPage {
		t.Helper()
		p, err := s.Feed(ctx(t), f)
		if err != nil {
			t.Fatalf("Feed(%+v): %v", f, err)
		}
		return p
	}
	p := feed(store.FeedFilter{Match: match})
	if d := diff([]string{early.ID, study.ID, later.ID}, ids(p.Events)); d != "" {
		t.Errorf("Feed with Match mismatch (-want +got):\n%s", d)
	}
	if p.Through != last.Seq {
		t.Errorf("Through = %d, want %d (the newest event, which did not match)", p.Through, last.Seq)
	}
	full := mustEvents(t, s, store.EventFilter{Forward: true})
	for _, e := range p.Events {
		if e.Body != nil {
			t.Errorf("event %s: Feed listed a body of %d bytes", e.ID, len(e.Body))
		}
	}
	if len(p.Events) == 3 {
		if got := p.Events[0].StudyID; got != "study-1" || full[0].StudyID != "" {
			t.Errorf("early event: Feed StudyID %q, stored %q; want study-1 and empty", got, full[0].StudyID)
		}
		got, want := p.Events[2], full[4] // the later event, every column as stored but the body, hash and signature form
		want.Body, want.ContentHash, want.SignatureForm = nil, "", ""
		if !reflect.DeepEqual(got, want) {
			t.Errorf("feed columns differ beyond the body, hash and signature form:\n got %+v\nwant %+v", got, want)
		}
	}
	// A full page ends at its last event; paging on from Through walks the rest.
	p = feed(store.FeedFilter{Match: match, Limit: 2})
	if d := diff([]string{early.ID, study.ID}, ids(p.Events)); d != "" || p.Through != study.Seq {
		t.Errorf("Feed limit 2: %v through %d, want [early study] through %d", ids(p.Events), p.Through, study.Seq)
	}
	p = feed(store.FeedFilter{Match: match, Limit: 2, AfterSeq: p.Through})
	if d := diff([]string{later.ID}, ids(p.Events)); d != "" || p.Through != last.Seq {
		t.Errorf("Feed after %d: %v through %d, want [later] through %d", study.Seq, ids(p.Events), p.Through, last.Seq)
	}
	if p = feed(store.FeedFilter{AfterSeq: last.Seq}); len(p.Events) != 0 || p.Through != last.Seq {
		t.Errorf("Feed past the newest: %v through %d, want nothing through %d", ids(p.Events), p.Through, last.Seq)
	}
	// Sources, and no Match: every event.
	p = feed(store.FeedFilter{Match: []store.EventMatch{{Sources: []string{store.SourceReconcile}}}})
	if d := diff([]string{later.ID}, ids(p.Events)); d != "" {
		t.Errorf("Feed by source mismatch (-want +got):\n%s", d)
	}
	if p = feed(store.FeedFilter{}); len(p.Events) != len(all) {
		t.Errorf("Feed without Match: %d events, want %d", len(p.Events), len(all))
	}
}
