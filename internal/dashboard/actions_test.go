package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prolific-receiver/receiver/internal/dashboard"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// TestActionsPage: the rule actions' audit, newest first, filtered by
// outcome, paged, with a bad filter answered 400.
func TestActionsPage(t *testing.T) {
	st := openStore(t)
	var ds []store.Decision
	for i := range 5 {
		ds = append(ds, store.Decision{Key: fmt.Sprintf("k%d", i), Rule: "pause-on-high-return-rate", Action: "pause",
			StudyID: fmt.Sprintf("study-%d", i), Target: fmt.Sprintf("study-%d", i), EventIDs: []string{"e"}, DryRun: true})
	}
	if _, err := st.Decide(context.Background(), nil, ds); err != nil {
		t.Fatal(err)
	}
	claimed, err := st.ClaimActions(context.Background(), "w", 1, 60e9)
	if err != nil || len(claimed) != 1 {
		t.Fatal(claimed, err)
	}
	if err := st.FinishActions(context.Background(), "w", []store.ActionResult{{ID: claimed[0].ID, Outcome: store.ActionDryRun,
		Reason: "RECEIVER_ACTIONS is dry-run", Request: `POST /api/v1/studies/study-0/transition/ {"action": "PAUSE"}`}}); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, st, dashboard.Options{PageSize: 3})
	code, _, body := get(t, srv.URL+"/actions")
	if code != http.StatusOK || !strings.Contains(body, "study-4") || strings.Contains(body, ">study-1<") || !strings.Contains(body, "actions?before=") {
		t.Fatalf("GET /actions = %d, want the 3 newest and a link to older ones:\n%s", code, body)
	}
	if i4, i3 := strings.Index(body, "study-4"), strings.Index(body, "study-3"); i4 > i3 {
		t.Errorf("study-4's action listed after study-3's: not newest first")
	}
	code, _, body = get(t, srv.URL+"/actions?outcome=dry-run")
	if code != http.StatusOK || !strings.Contains(body, "study-0") || strings.Contains(body, "study-4") || !strings.Contains(body, "RECEIVER_ACTIONS is dry-run") {
		t.Errorf("GET /actions?outcome=dry-run = %d:\n%s", code, body)
	}
	if code, _, _ := get(t, srv.URL+"/actions?outcome=perhaps"); code != http.StatusBadRequest {
		t.Errorf("outcome=perhaps: %d, want 400", code)
	}
}

// TestStudyPageListsRuleActions: a study's page shows the rules engine's
// actions about it.
func TestStudyPageListsRuleActions(t *testing.T) {
	st := openStore(t)
	save(t, st, storetest.NewEvent("study.has_high_return_rate", "study-r", "", storetest.T0))
	if _, err := st.Decide(context.Background(), nil, []store.Decision{{Key: "p", Rule: "pause-on-high-return-rate", Action: "pause",
		StudyID: "study-r", Target: "study-r"}, {Key: "q", Rule: "other", Action: "pause", StudyID: "study-z", Target: "study-z"}}); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, st, dashboard.Options{})
	code, _, body := get(t, srv.URL+"/studies/study-r")
	if code != http.StatusOK || !strings.Contains(body, "pause-on-high-return-rate") || strings.Contains(body, "study-z") ||
		!strings.Contains(body, "actions?study_id=study-r") {
		t.Errorf("GET /studies/study-r = %d, want its rule action and a link to all of them:\n%s", code, body)
	}
}
