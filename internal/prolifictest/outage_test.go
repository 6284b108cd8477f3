package prolifictest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

// TestSubmissionListingPages reads a simulated study's submissions with the
// real client, page by page, and gets every submission once with the
// fake's own status.
func TestSubmissionListingPages(t *testing.T) {
	f := newTestFake(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := f.SimulateStudy(ctx, SimConfig{WorkspaceID: testWS, Places: 23, ReturnRate: 0.2, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	c := prolific.New(f.URL(), testToken, prolific.WithRetry(0, 0, 0))
	got := map[string]string{}
	pages := 0
	for page := 1; ; page++ {
		subs, err := c.StudySubmissions(ctx, res.StudyID, page, 5)
		if err != nil {
			t.Fatalf("StudySubmissions page %d: %v", page, err)
		}
		pages++
		for _, s := range subs {
			if _, dup := got[s.ID]; dup {
				t.Errorf("submission %s listed twice", s.ID)
			}
			if s.StudyID != res.StudyID || s.ParticipantID == "" {
				t.Errorf("submission %+v: want study %s and a participant", s, res.StudyID)
			}
			got[s.ID] = s.Status
		}
		if len(subs) < 5 {
			break
		}
	}
	want, _ := f.StudyState(res.StudyID)
	if len(got) != len(want.Submissions) {
		t.Fatalf("listed %d submissions, want %d", len(got), len(want.Submissions))
	}
	for id, st := range want.Submissions {
		if got[id] != st {
			t.Errorf("submission %s status %q, want %q", id, got[id], st)
		}
	}
	if wantPages := len(want.Submissions)/5 + 1; pages != wantPages {
		t.Errorf("pages read = %d, want %d", pages, wantPages)
	}
	if subs, err := c.StudySubmissions(ctx, res.StudyID, 1000, 5); err != nil || len(subs) != 0 {
		t.Errorf("a page past the end = %v, %v; want empty, no error", subs, err)
	}
	if st, _, _ := call(t, f, "GET", "/api/v1/submissions/", nil); st != http.StatusBadRequest {
		t.Errorf("listing without study = %d, want 400", st)
	}
}

// TestBreakDeliveries: while deliveries are broken every attempt fails and
// is retried until the retries run out; the log shows them FAILED with
// their payloads; after RestoreDeliveries new events are delivered.
func TestBreakDeliveries(t *testing.T) {
	for _, status := range []int{0, http.StatusBadGateway} {
		f := newTestFake(t, func(o *Options) { o.MaxRetries = 2 })
		createSecret(t, f)
		tg := newTarget(t, nil)
		subID := subscribe(t, f, prolific.EventStudyStatusChange, tg.URL)
		f.BreakDeliveries(status)
		if _, err := f.Emit(testWS, prolific.EventStudyStatusChange, "6650a1b2c3d4e5f6aaaa0001", F("status", "ACTIVE")); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, f)
		if n := len(tg.deliveries()); n != 0 {
			t.Errorf("status %d: target got %d requests while broken, want 0", status, n)
		}
		if s := f.Stats(); s.Attempts != 3 || s.Exhausted != 1 {
			t.Errorf("status %d: Stats = %+v, want 3 attempts and 1 exhausted", status, s)
		}
		_, _, b := call(t, f, "GET", "/api/v1/hooks/subscriptions/"+subID+"/events/?status=FAILED", nil)
		events := mustDecode[listBody[struct {
			Status  string
			Payload map[string]any
		}]](t, b).Results
		if len(events) != 1 || events[0].Status != StatusFailed || events[0].Payload["status"] != "ACTIVE" {
			t.Errorf("status %d: FAILED log = %s, want the one event with its payload", status, b)
		}
		f.RestoreDeliveries()
		if _, err := f.Emit(testWS, prolific.EventStudyStatusChange, "6650a1b2c3d4e5f6aaaa0001", F("status", "PAUSED")); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, f)
		if n := len(tg.deliveries()); n != 1 {
			t.Errorf("status %d: target got %d requests after restoring, want 1", status, n)
		}
	}
}
