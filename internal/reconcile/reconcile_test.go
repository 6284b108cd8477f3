package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/reconcile"
	"github.com/prolific-receiver/receiver/internal/store"
)

// A study runs to completion while the receiver is down and every retry
// is given up: one pass stores every event of the delivery log once, the
// projections equal the fake's, and a second pass stores nothing new.
func TestBackfillRecoversOutage(t *testing.T) {
	r := newRig(t, nil)
	res := r.simulate(t, 40, 1)
	entries := r.logEntries(t)
	rec := r.reconciler(nil)

	sum, err := rec.Run(context.Background(), reconcile.Request{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sum.Found != entries || sum.Stored != entries || sum.Present != 0 || sum.Invalid != 0 {
		t.Errorf("summary = %+v, want %d found and stored", sum, entries)
	}
	if sum.Corrections != 0 {
		t.Errorf("corrections = %d, want 0 (the log held every event)", sum.Corrections)
	}
	events := r.allEvents(t)
	if len(events) != entries {
		t.Errorf("stored %d events, want %d (one per log entry)", len(events), entries)
	}
	for _, e := range events {
		if e.Source != store.SourceAPI {
			t.Errorf("event %s source %q, want %q", e.ID, e.Source, store.SourceAPI)
			break
		}
	}
	r.assertMatchesFake(t, res.StudyID)
	if got := metric(t, r.reg, "receiver_reconcile_events_total", map[string]string{"source": "api", "outcome": "stored"}); got != float64(entries) {
		t.Errorf("events_total{api,stored} = %v, want %d", got, entries)
	}
	if got := metric(t, r.reg, "receiver_reconcile_last_success_timestamp_seconds", nil); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last_success = %v, want about now", got)
	}

	again, err := rec.Run(context.Background(), reconcile.Request{})
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if again.Stored != 0 || again.Corrections != 0 || again.Present != entries {
		t.Errorf("second pass = %+v, want nothing stored, %d present (re-read within the margin)", again, entries)
	}
	if n := len(r.allEvents(t)); n != entries {
		t.Errorf("after a second pass %d events, want %d", n, entries)
	}
}

// The cursor keeps a later pass from re-reading the whole log: with a
// margin shorter than the time since the first pass, it reads only
// the newest page.
func TestCursorLimitsReading(t *testing.T) {
	r := newRig(t, nil)
	r.simulate(t, 20, 2)
	now := time.Now().Add(time.Hour)
	clock := func() time.Time { return now }
	rec := r.reconciler(func(o *reconcile.Options) { o.Now = clock; o.Margin = time.Minute })
	if _, err := rec.Run(context.Background(), reconcile.Request{}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	now = now.Add(time.Hour) // the cursor (first pass's start) minus a minute is after every entry
	sum, err := rec.Run(context.Background(), reconcile.Request{})
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if sum.Found != 0 {
		t.Errorf("second pass found %d entries, want 0 (all before the cursor)", sum.Found)
	}
	// One page per subscription plus the study's reads.
	if maxPages := len(r.subs) + 3; sum.Pages > maxPages {
		t.Errorf("second pass read %d pages, want at most %d", sum.Pages, maxPages)
	}
}

// A webhook stored under the delivery's X-Event-ID, or under another ID
// with the same payload and time, is not stored again.
func TestBackfillKeepsWebhooks(t *testing.T) {
	r := newRig(t, nil)
	sub := r.subs[0] // study.status.change
	ids, err := r.fake.Emit(workspace, prolific.EventStudyStatusChange, "6650a1b2c3d4e5f6aaaa0001",
		prolifictestField("status", "PAUSED"))
	if err != nil || len(ids) != 1 {
		t.Fatalf("Emit = %v, %v", ids, err)
	}
	if _, err := r.fake.Emit(workspace, prolific.EventStudyStatusChange, "6650a1b2c3d4e5f6aaaa0002",
		prolifictestField("status", "ACTIVE")); err != nil {
		t.Fatal(err)
	}
	if err := r.fake.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, err := r.api.SubscriptionEvents(context.Background(), sub.ID, prolific.EventsQuery{})
	if err != nil || len(entries) != 2 {
		t.Fatalf("log = %v, %v; want 2 entries", entries, err)
	}
	for _, e := range entries {
		id := e.ID // the webhook's X-Event-ID
		if e.ResourceID == "6650a1b2c3d4e5f6aaaa0002" {
			id = "other-id-of-the-same-delivery" // a webhook whose ID the log does not show
		}
		ev := &store.Event{ID: id, Type: e.EventType, ResourceID: e.ResourceID, Status: statusOf(t, e.Payload),
			StudyID: e.ResourceID, EventTime: e.Created.Truncate(time.Second), ReceivedAt: time.Now(),
			ContentHash: store.ContentHash("1", append([]byte(id), e.Payload...)), Body: spaced(e.Payload)}
		if _, err := r.db.Save(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := r.reconciler(nil).Run(context.Background(), reconcile.Request{SubscriptionID: sub.ID})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sum.Found != 2 || sum.Present != 2 || sum.Stored != 0 {
		t.Errorf("summary = %+v, want 2 found, both present", sum)
	}
	if n := len(r.allEvents(t)); n != 2 {
		t.Errorf("stored events = %d, want 2", n)
	}
}

// Events lost outright (the submission subscription disabled while the
// study ran, so Prolific neither delivered nor logged them) are corrected
// from the submission listing, each recorded as a synthetic event in the
// study's event list.
func TestSubmissionCorrections(t *testing.T) {
	r := newRig(t, nil)
	var subSub string
	for _, s := range r.subs {
		if s.EventType == prolific.EventSubmissionStatusChange {
			subSub = s.ID
		}
	}
	r.fake.SetSubscriptionEnabled(subSub, false)
	res := r.simulate(t, 25, 3)
	r.fake.SetSubscriptionEnabled(subSub, true)
	want, _ := r.fake.StudyState(res.StudyID)

	sum, err := r.reconciler(nil).Run(context.Background(), reconcile.Request{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sum.Corrections != len(want.Submissions) {
		t.Errorf("corrections = %d, want %d (every submission was missed)", sum.Corrections, len(want.Submissions))
	}
	r.assertMatchesFake(t, res.StudyID)
	list, err := r.db.Events(context.Background(), store.EventFilter{StudyID: res.StudyID, Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	synthetic := 0
	for _, e := range list {
		if e.Source == store.SourceReconcile {
			synthetic++
		}
	}
	if synthetic != len(want.Submissions) {
		t.Errorf("study's event list holds %d reconcile events, want %d", synthetic, len(want.Submissions))
	}
	if got := metric(t, r.reg, "receiver_reconcile_corrections_total", map[string]string{"kind": "submission"}); got != float64(len(want.Submissions)) {
		t.Errorf("corrections_total{submission} = %v, want %d", got, len(want.Submissions))
	}
	again, err := r.reconciler(nil).Run(context.Background(), reconcile.Request{})
	if err != nil || again.Corrections != 0 {
		t.Errorf("second pass = %+v, %v; want no corrections", again, err)
	}
}

// A dry run reads and counts but writes nothing.
func TestDryRunWritesNothing(t *testing.T) {
	r := newRig(t, nil)
	r.simulate(t, 10, 4)
	entries := r.logEntries(t)
	sum, err := r.reconciler(nil).Run(context.Background(), reconcile.Request{DryRun: true})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sum.Stored != entries || !sum.DryRun {
		t.Errorf("dry run = %+v, want %d would-be stored", sum, entries)
	}
	if n := len(r.allEvents(t)); n != 0 {
		t.Errorf("dry run stored %d events, want 0", n)
	}
	marks, err := r.db.ReconcileMarks(context.Background(), store.MarkSubscription)
	if err != nil || len(marks) != 0 {
		t.Errorf("dry run cursors = %v, %v; want none", marks, err)
	}
}
