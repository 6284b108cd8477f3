package backend_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/backend"
)

func TestProjectionFoldsABatchAsRowByRowUpserts(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := func(typ, resource, status string, at time.Time) *store.Event {
		return &store.Event{Type: typ, ResourceID: resource, Status: status, EventTime: at, ParticipantID: "p-" + resource}
	}
	p := backend.NewProjection(true)
	// Out of order: the later status wins whatever the arrival order.
	p.Add(ev("submission.status.change", "sub1", "APPROVED", t0.Add(2*time.Second)), "st1")
	p.Add(ev("submission.status.change", "sub1", "AWAITING REVIEW", t0.Add(time.Second)), "st1")
	// Same time: the higher rank wins.
	p.Add(ev("submission.status.change", "sub2", "ACTIVE", t0), "")
	p.Add(ev("submission.status.change", "sub2", "RETURNED", t0), "")
	p.Add(ev("study.status.change", "st1", "PAUSED", t0), "st1")
	p.Add(ev("study.has_high_return_rate", "st1", "", t0.Add(3*time.Second)), "st1")
	p.Add(ev("study.has_high_return_rate", "st1", "", t0), "st1")
	p.Add(ev("study.progress.change", "st2", "", t0), "st2")

	sub1 := p.Submissions["sub1"]
	if sub1.Status.Name != "APPROVED" || !sub1.Status.At.Equal(t0.Add(2*time.Second)) || sub1.StudyID != "st1" || sub1.ParticipantID != "p-sub1" {
		t.Errorf("sub1 = %+v, want APPROVED at t0+2s in st1", sub1)
	}
	if want := store.StatusRank("submission.status.change", "RETURNED"); p.Submissions["sub2"].Status.Name != "RETURNED" ||
		want <= store.StatusRank("submission.status.change", "ACTIVE") {
		t.Errorf("sub2 = %+v, want RETURNED (rank %d beats ACTIVE at the same time)", p.Submissions["sub2"], want)
	}
	st1 := p.Studies["st1"]
	if st1.Status.Name != "PAUSED" || st1.HighRate != 2 || !st1.LastAt.Equal(t0.Add(3*time.Second)) {
		t.Errorf("st1 = %+v, want PAUSED, 2 high-return-rate events, last event t0+3s", st1)
	}
	if st2 := p.Studies["st2"]; st2 == nil || st2.Status.Set {
		t.Errorf("st2 = %+v, want touched without a status", st2)
	}
	wantJobs := []backend.JobKey{ // by kind ("study" < "submission"), then key
		{Kind: store.JobRefreshStudy, Key: "st1"},
		{Kind: store.JobRefreshStudy, Key: "st2"},
		{Kind: store.JobLookupSubmission, Key: "sub2"},
	}
	if got := p.SortedJobs(); !reflect.DeepEqual(got, wantJobs) {
		t.Errorf("jobs = %v, want %v", got, wantJobs)
	}
	if q := backend.NewProjection(false); func() bool { q.Add(ev("study.progress.change", "x", "", t0), "x"); return len(q.Jobs) > 0 }() {
		t.Error("jobs queued without enrichment")
	}
}
