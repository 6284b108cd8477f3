package bootstrap

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
)

func TestRunFreshWorkspace(t *testing.T) {
	for _, shape := range []string{prolifictest.ShapeObject, prolifictest.ShapeResults} {
		t.Run(shape, func(t *testing.T) {
			e := newEnv(t, prolifictest.Options{CreateResponseShape: shape})
			sum, err := Run(t.Context(), e.client(token), cfg(), e.logger())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if sum.SecretAction != SecretCreated {
				t.Errorf("secret action = %q, want %q", sum.SecretAction, SecretCreated)
			}
			if want, _ := e.fake.Secret(workspace); sum.Secret == "" || sum.Secret != want {
				t.Errorf("summary secret does not match the workspace's secret")
			}
			if len(sum.Subscriptions) != len(prolific.DefaultEventTypes) {
				t.Fatalf("subscriptions = %d, want %d", len(sum.Subscriptions), len(prolific.DefaultEventTypes))
			}
			for i, et := range prolific.DefaultEventTypes {
				got := sum.Subscriptions[i]
				subs := e.subsFor(et)
				if len(subs) != 1 || !subs[0].Enabled || !subs[0].Confirmed {
					t.Fatalf("%s: fake holds %+v, want one enabled, confirmed subscription", et, subs)
				}
				if got.EventType != et || got.Action != Created || got.SubscriptionID != subs[0].ID {
					t.Errorf("result %d = %+v, want {%s created %s}", i, got, et, subs[0].ID)
				}
			}
			if n := countReq(e.requests(), "POST /api/v1/hooks/secrets/"); n != 1 {
				t.Errorf("secret creations = %d, want 1", n)
			}
			if strings.Contains(e.logs.String(), sum.Secret) {
				t.Error("logs contain the signing secret")
			}
		})
	}
}

func TestRunKeepsExistingSecretAndIsIdempotent(t *testing.T) {
	const seeded = "seeded-secret-value-123"
	e := newEnv(t, prolifictest.Options{Secrets: map[string]string{workspace: seeded}})
	c := e.client(token)
	first, err := Run(t.Context(), c, cfg(), e.logger())
	if err != nil {
		t.Fatalf("first Run: %v", err)
	}
	if first.SecretAction != SecretFetched || first.Secret != seeded {
		t.Errorf("secret action = %q (value matches: %v), want fetched and the seeded value", first.SecretAction, first.Secret == seeded)
	}
	if n := countReq(e.requests(), "POST /api/v1/hooks/secrets/"); n != 0 {
		t.Errorf("secret creations = %d, want 0", n)
	}

	e.resetRequests()
	second, err := Run(t.Context(), c, cfg(), e.logger())
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if m := e.mutations(); len(m) != 0 {
		t.Errorf("second Run made mutating calls %v, want none", m)
	}
	for i, r := range second.Subscriptions {
		if r.Action != Unchanged || r.SubscriptionID != first.Subscriptions[i].SubscriptionID {
			t.Errorf("second run %s = %+v, want unchanged %s", r.EventType, r, first.Subscriptions[i].SubscriptionID)
		}
	}
	if v, _ := e.fake.Secret(workspace); v != seeded {
		t.Error("workspace secret changed, want the seeded one kept")
	}
}

func TestRunReenablesDisabled(t *testing.T) {
	e := newEnv(t, prolifictest.Options{})
	c := e.client(token)
	first, err := Run(t.Context(), c, cfg(), e.logger())
	if err != nil {
		t.Fatal(err)
	}
	paused := first.Subscriptions[1]
	if _, err := c.UpdateSubscription(t.Context(), paused.SubscriptionID, prolific.SubscriptionUpdate{IsEnabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	e.resetRequests()
	sum, err := Run(t.Context(), c, cfg(), e.logger())
	if err != nil {
		t.Fatal(err)
	}
	got := sum.Subscriptions[1]
	if got.Action != Reenabled || got.SubscriptionID != paused.SubscriptionID {
		t.Errorf("result = %+v, want re-enabled %s", got, paused.SubscriptionID)
	}
	if n := countReq(e.requests(), "POST /api/v1/hooks/subscriptions/"); n != 0 {
		t.Errorf("subscription creations = %d, want 0", n)
	}
	if subs := e.subsFor(paused.EventType); len(subs) != 1 || !subs[0].Enabled {
		t.Errorf("fake holds %+v, want one enabled subscription", subs)
	}
}

// TestRunRecreatesUnconfirmed: Prolific (the fake) refuses to enable a
// subscription that was never confirmed, so bootstrap deletes and recreates it.
func TestRunRecreatesUnconfirmed(t *testing.T) {
	e := newEnv(t, prolifictest.Options{Secrets: map[string]string{workspace: "s"}})
	c := e.client(token)
	stale, _, err := c.CreateSubscription(t.Context(), workspace, prolific.EventStudyStatusChange, publicURL)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Run(t.Context(), c, cfg(), e.logger())
	if err != nil {
		t.Fatal(err)
	}
	got := sum.Subscriptions[0]
	if got.EventType != prolific.EventStudyStatusChange || got.Action != Recreated || got.SubscriptionID == stale.ID {
		t.Errorf("result = %+v, want recreated with a new id (stale %s)", got, stale.ID)
	}
	if subs := e.subsFor(prolific.EventStudyStatusChange); len(subs) != 1 || !subs[0].Enabled || subs[0].ID == stale.ID {
		t.Errorf("fake holds %+v, want only the new enabled subscription", subs)
	}
}

func TestRunConfirmRetriedOnce(t *testing.T) {
	e := newEnv(t, prolifictest.Options{})
	e.fake.FailNext(prolifictest.RouteConfirmSubscription, 400, 1)
	if _, err := Run(t.Context(), e.client(token), cfg(), e.logger()); err != nil {
		t.Fatalf("Run: %v, want success after a second confirmation", err)
	}
	if n := e.fake.Requests(prolifictest.RouteConfirmSubscription); n != 4 {
		t.Errorf("confirm requests = %d, want 4 (3 types + 1 retry)", n)
	}
	for _, et := range prolific.DefaultEventTypes {
		if subs := e.subsFor(et); len(subs) != 1 || !subs[0].Enabled {
			t.Errorf("%s: fake holds %+v, want one enabled", et, subs)
		}
	}
}

func TestRunConfirmGivesUp(t *testing.T) {
	e := newEnv(t, prolifictest.Options{})
	e.fake.FailNext(prolifictest.RouteConfirmSubscription, 400, 2)
	_, err := Run(t.Context(), e.client(token), cfg(), e.logger())
	if err == nil || !strings.Contains(err.Error(), "confirm subscription") {
		t.Fatalf("Run error = %v, want a confirmation failure", err)
	}
	if subs := e.subsFor(prolific.DefaultEventTypes[0]); len(subs) != 0 {
		t.Errorf("fake holds %+v, want the unconfirmed subscription deleted", subs)
	}
}

func TestRunRemovesExistingDuplicates(t *testing.T) {
	e := newEnv(t, prolifictest.Options{Secrets: map[string]string{workspace: "s"}})
	c := e.client(token)
	var ids []string
	for range 3 {
		sub, hs, err := c.CreateSubscription(t.Context(), workspace, prolific.EventSubmissionStatusChange, publicURL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ConfirmSubscription(t.Context(), sub.ID, hs); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sub.ID)
	}
	slices.Sort(ids)
	sum, err := Run(t.Context(), c, Config{WorkspaceID: workspace, PublicURL: publicURL,
		EventTypes: []string{prolific.EventSubmissionStatusChange}}, e.logger())
	if err != nil {
		t.Fatal(err)
	}
	if got := sum.Subscriptions[0]; got.Action != Unchanged || got.SubscriptionID != ids[0] {
		t.Errorf("result = %+v, want unchanged keeping the smallest id %s", got, ids[0])
	}
	if !slices.Equal(sum.RemovedDuplicates, ids[1:]) {
		t.Errorf("removed = %v, want %v", sum.RemovedDuplicates, ids[1:])
	}
	if subs := e.subsFor(prolific.EventSubmissionStatusChange); len(subs) != 1 || subs[0].ID != ids[0] {
		t.Errorf("fake holds %+v, want only %s", subs, ids[0])
	}
}

func TestRunRotateSecret(t *testing.T) {
	const old = "old-secret-value-abc"
	e := newEnv(t, prolifictest.Options{Secrets: map[string]string{workspace: old}})
	c2 := cfg()
	c2.RotateSecret = true
	sum, err := Run(t.Context(), e.client(token), c2, e.logger())
	if err != nil {
		t.Fatal(err)
	}
	now, _ := e.fake.Secret(workspace)
	if sum.SecretAction != SecretRotated || sum.PreviousSecret != old || sum.Secret != now || now == old {
		t.Errorf("secret action = %q, previous kept = %v, current matches = %v; want rotated with both",
			sum.SecretAction, sum.PreviousSecret == old, sum.Secret == now && now != old)
	}
	js, err := json.Marshal(sum)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{sum.String(), string(js), fmt.Sprintf("%v %+v %#v", sum, sum, sum), e.logs.String()} {
		if strings.Contains(text, old) || strings.Contains(text, now) {
			t.Errorf("output contains a secret value: %s", text)
		}
	}
	if !strings.Contains(sum.String(), "signing secret: rotated") {
		t.Errorf("String() = %q, want it to mention the rotation", sum.String())
	}
}

func countReq(reqs []string, want string) int {
	n := 0
	for _, r := range reqs {
		if r == want {
			n++
		}
	}
	return n
}

// TestRunReenableServerErrorKeepsSubscription: a 5xx while re-enabling is
// not a refusal, so the subscription must not be deleted.
func TestRunReenableServerErrorKeepsSubscription(t *testing.T) {
	e := newEnv(t, prolifictest.Options{})
	c := e.client(token)
	first, err := Run(t.Context(), c, cfg(), e.logger())
	if err != nil {
		t.Fatal(err)
	}
	paused := first.Subscriptions[0]
	if _, err := c.UpdateSubscription(t.Context(), paused.SubscriptionID, prolific.SubscriptionUpdate{IsEnabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	e.fake.FailNext(prolifictest.RouteUpdateSubscription, 500, 10)
	e.resetRequests()
	if _, err := Run(t.Context(), c, cfg(), e.logger()); err == nil || !strings.Contains(err.Error(), "re-enable subscription") {
		t.Fatalf("Run error = %v, want a re-enable failure", err)
	}
	for _, m := range e.mutations() {
		if !strings.HasPrefix(m, "PATCH ") {
			t.Errorf("mutating call %s, want only PATCH attempts", m)
		}
	}
	if subs := e.subsFor(paused.EventType); len(subs) != 1 || subs[0].ID != paused.SubscriptionID {
		t.Errorf("fake holds %+v, want the paused subscription kept", subs)
	}
}
