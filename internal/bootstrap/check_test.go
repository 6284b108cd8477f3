package bootstrap

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
)

func TestCheckAndReenable(t *testing.T) {
	e := newEnv(t, prolifictest.Options{})
	c := e.client(token)
	ctx := t.Context()

	states, err := CheckSubscriptions(ctx, c, cfg())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if st.Enabled || st.ID != "" {
			t.Errorf("before bootstrap %+v, want not enabled and no id", st)
		}
	}

	sum, err := Run(ctx, c, cfg(), e.logger())
	if err != nil {
		t.Fatal(err)
	}
	paused := sum.Subscriptions[2]
	if _, err := c.UpdateSubscription(ctx, paused.SubscriptionID, prolific.SubscriptionUpdate{IsEnabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	e.resetRequests()
	states, err = CheckSubscriptions(ctx, c, cfg())
	if err != nil {
		t.Fatal(err)
	}
	var want []SubscriptionState
	for _, r := range sum.Subscriptions {
		want = append(want, SubscriptionState{EventType: r.EventType, Enabled: r != paused, ID: r.SubscriptionID})
	}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if m := e.mutations(); len(m) != 0 {
		t.Errorf("CheckSubscriptions made mutating calls %v, want none", m)
	}

	results, err := Reenable(ctx, c, cfg(), e.logger())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		wantAction := Unchanged
		if r.EventType == paused.EventType {
			wantAction = Reenabled
		}
		if r.Action != wantAction {
			t.Errorf("Reenable %s = %q, want %q", r.EventType, r.Action, wantAction)
		}
	}
	if m := e.mutations(); len(m) != 1 || m[0] != "PATCH /api/v1/hooks/subscriptions/"+paused.SubscriptionID+"/" {
		t.Errorf("mutating calls = %v, want the one PATCH", m)
	}

	e.resetRequests()
	if _, err := Reenable(ctx, c, cfg(), e.logger()); err != nil {
		t.Fatal(err)
	}
	if m := e.mutations(); len(m) != 0 {
		t.Errorf("Reenable with everything enabled made mutating calls %v, want none", m)
	}
}

func TestSummaryString(t *testing.T) {
	s := Summary{
		WorkspaceID: "w1", TargetURL: "https://r.example/hooks/prolific",
		SecretAction: SecretFetched, Secret: "sekrit-value", PreviousSecret: "old-sekrit",
		Subscriptions: []Result{
			{EventType: "study.status.change", Action: Unchanged, SubscriptionID: "a1"},
			{EventType: "submission.status.change", Action: Created, SubscriptionID: "b2"},
		},
		RemovedDuplicates: []string{"c3"},
	}
	want := `Prolific workspace w1 → https://r.example/hooks/prolific
  signing secret: fetched (existing secret kept)
  study.status.change       unchanged   subscription a1
  submission.status.change  created     subscription b2
  removed duplicate subscriptions: c3
`
	if got := s.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(s.GoString(), "sekrit") {
		t.Error("GoString shows a secret")
	}
}
