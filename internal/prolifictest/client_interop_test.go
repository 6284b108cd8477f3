package prolifictest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

// TestClientInterop drives the fake with the real client from
// internal/prolific: the two independent readings of the contract must agree.
func TestClientInterop(t *testing.T) {
	for _, shape := range []string{ShapeObject, ShapeResults} {
		t.Run(shape, func(t *testing.T) {
			f := newTestFake(t, func(o *Options) { o.CreateResponseShape = shape; o.RetryAfter = "0" })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := prolific.New(f.URL(), testToken, prolific.WithRetry(3, time.Millisecond, 10*time.Millisecond))

			types, err := c.EventTypes(ctx)
			if err != nil || len(types) != 4 {
				t.Fatalf("EventTypes = %d types, %v; want 4", len(types), err)
			}
			if secrets, err := c.Secrets(ctx, testWS); err != nil || len(secrets) != 0 {
				t.Fatalf("Secrets = %d, %v; want none", len(secrets), err)
			}
			secret, err := c.CreateSecret(ctx, testWS)
			if cur, _ := f.Secret(testWS); err != nil || secret.Value != cur {
				t.Fatalf("CreateSecret: %v, value matches fake %v", err, secret.Value == cur)
			}
			tg := newTarget(t, nil)
			sub, hookSecret, err := c.CreateSubscription(ctx, testWS, prolific.EventSubmissionStatusChange, tg.URL)
			if err != nil || sub.ID == "" || hookSecret == "" || sub.IsEnabled {
				t.Fatalf("CreateSubscription = %+v, secret set %v, %v; want a disabled subscription with id", sub, hookSecret != "", err)
			}
			if sub, err = c.ConfirmSubscription(ctx, sub.ID, hookSecret); err != nil || !sub.IsEnabled {
				t.Fatalf("ConfirmSubscription = %+v, %v; want enabled", sub, err)
			}
			if subs, err := c.Subscriptions(ctx, testWS, true); err != nil || len(subs) != 1 || subs[0].ID != sub.ID {
				t.Fatalf("Subscriptions(enabled) = %+v, %v; want [%s]", subs, err, sub.ID)
			}

			f.FailNext(RouteGetStudy, http.StatusTooManyRequests, 2)
			res, err := f.SimulateStudy(ctx, SimConfig{WorkspaceID: testWS, Places: 5, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			waitIdle(t, f)
			study, err := c.Study(ctx, res.StudyID)
			if err != nil || study.Status != StudyCompleted || study.PlacesTaken != 5 || study.TotalAvailablePlaces != 5 {
				t.Fatalf("Study = %+v, %v; want COMPLETED 5/5", study, err)
			}
			if got := f.Requests(RouteGetStudy); got != 3 {
				t.Errorf("get-study requests = %d, want 3 (two 429s retried)", got)
			}
			counts, err := c.SubmissionCounts(ctx, res.StudyID)
			if err != nil || counts["TOTAL"] != study.NumberOfSubmissions || counts[SubmissionApproved] != 5 {
				t.Errorf("SubmissionCounts = %v, %v; want TOTAL %d and 5 approved", counts, err, study.NumberOfSubmissions)
			}
			events, err := c.SubscriptionEvents(ctx, sub.ID, prolific.EventsQuery{})
			if err != nil || len(events) != len(tg.deliveries()) || len(events) == 0 {
				t.Fatalf("SubscriptionEvents = %d, %v; want the %d deliveries", len(events), err, len(tg.deliveries()))
			}
			got, err := c.Submission(ctx, events[0].ResourceID)
			if err != nil || got.StudyID != res.StudyID || got.ParticipantID == "" {
				t.Errorf("Submission = %+v, %v; want study %s and a participant", got, err, res.StudyID)
			}
			if err := c.DeleteSubscription(ctx, sub.ID); err != nil {
				t.Errorf("DeleteSubscription: %v", err)
			}
		})
	}
}
