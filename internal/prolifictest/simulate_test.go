package prolifictest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// statusRank orders submission statuses along the simulation's transitions,
// so a receiver can rebuild final states from out-of-order deliveries.
var statusRank = map[string]int{
	SubmissionReserved: 1, SubmissionActive: 2, SubmissionAwaitingReview: 3,
	SubmissionReturned: 4, SubmissionTimedOut: 4, SubmissionApproved: 5, SubmissionRejected: 5,
}

func TestSimulateStudy(t *testing.T) {
	f := newTestFake(t, func(o *Options) { o.TimeScale = 7200; o.Workers = 4 })
	secret := createSecret(t, f)
	tg := newTarget(t, func(n int, r *http.Request) int {
		if n%10 == 0 {
			return http.StatusServiceUnavailable // every tenth attempt fails and is retried
		}
		return http.StatusOK
	})
	for _, et := range []string{prolific.EventSubmissionStatusChange, prolific.EventStudyStatusChange, prolific.EventStudyProgressChange, prolific.EventStudyHighReturnRate} {
		subscribe(t, f, et, tg.URL)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	studyID := NewID()
	stop := make(chan struct{})
	polled := make(chan []string)
	go func() { // an API reader checking every answer is self-consistent mid-simulation
		var errs []string
		for {
			select {
			case <-stop:
				polled <- errs
				return
			case <-time.After(5 * time.Millisecond):
			}
			errs = append(errs, checkStudyAPI(f, studyID, 100)...)
		}
	}()
	res, err := f.SimulateStudy(ctx, SimConfig{WorkspaceID: testWS, StudyID: studyID, Name: "sim", Places: 100, Duration: time.Hour,
		ReturnRate: 0.25, TimeoutRate: 0.05, RejectRate: 0.1, Seed: 42})
	close(stop)
	for _, e := range <-polled {
		t.Error(e)
	}
	if err != nil {
		t.Fatalf("SimulateStudy: %v", err)
	}
	t.Logf("result %+v, stats %+v", res, f.Stats())
	if res.StudyID != studyID {
		t.Errorf("StudyID = %q, want %q", res.StudyID, studyID)
	}
	waitIdle(t, f)
	for _, e := range checkStudyAPI(f, studyID, 100) {
		t.Error(e)
	}

	state, ok := f.StudyState(res.StudyID)
	if !ok {
		t.Fatal("StudyState: study not found")
	}
	if state.Status != StudyCompleted || state.PlacesTaken != 100 || res.PlacesTaken != 100 || res.PlacesTotal != 100 {
		t.Errorf("final study: status %q places %d/%d (result %d/%d), want COMPLETED 100/100", state.Status, state.PlacesTaken, state.TotalAvailablePlaces, res.PlacesTaken, res.PlacesTotal)
	}
	if got, want := res.Submissions[SubmissionApproved]+res.Submissions[SubmissionRejected], 100; got != want {
		t.Errorf("approved+rejected = %d, want %d", got, want)
	}
	if res.Submissions[SubmissionReturned] == 0 || res.Submissions[SubmissionRejected] == 0 {
		t.Errorf("Submissions = %v, want some returned and some rejected with these rates", res.Submissions)
	}

	// Rebuild the final picture from what the target received.
	subs := map[string]string{}
	studyStatus, highReturn, progress := "", 0, 0
	seen := map[string]bool{}
	for _, d := range tg.deliveries() {
		if verify.Sign(secret, d.header.Get("X-Prolific-Request-Timestamp"), d.body) != d.header.Get("X-Prolific-Request-Signature") {
			t.Fatal("a delivery's signature does not verify")
		}
		id := d.header.Get("X-Event-Id")
		if seen[id] {
			continue
		}
		seen[id] = true
		var ev struct{ ResourceID, EventType, Status string }
		ev.ResourceID, ev.EventType = jsonField(t, d.body, "resource_id"), jsonField(t, d.body, "event_type")
		ev.Status = jsonField(t, d.body, "status")
		switch ev.EventType {
		case prolific.EventSubmissionStatusChange:
			if statusRank[ev.Status] > statusRank[subs[ev.ResourceID]] {
				subs[ev.ResourceID] = ev.Status
			}
		case prolific.EventStudyStatusChange:
			if ev.Status == StudyCompleted || studyStatus != StudyCompleted {
				studyStatus = ev.Status
			}
		case prolific.EventStudyHighReturnRate:
			highReturn++
		case prolific.EventStudyProgressChange:
			progress++
		}
	}
	if diff := cmp.Diff(state.Submissions, subs); diff != "" {
		t.Errorf("statuses rebuilt from webhooks differ from the API (-api +webhooks):\n%s", diff)
	}
	if studyStatus != StudyCompleted || highReturn != 1 || progress == 0 {
		t.Errorf("webhooks: study %q, %d high-return events, %d progress events; want COMPLETED, 1, > 0", studyStatus, highReturn, progress)
	}
	if s := f.Stats(); len(seen) != s.Successes || s.Events != res.EventsEmitted || s.Failures == 0 {
		t.Errorf("%d unique deliveries, stats %+v, result events %d; want successes = unique deliveries, events = emitted, some failures", len(seen), s, res.EventsEmitted)
	}
}

// checkStudyAPI reads the study and its counts through the API and reports
// inconsistencies; a study that does not exist yet is fine. It runs outside
// the test goroutine, so it reports rather than fails.
func checkStudyAPI(f *Fake, id string, places int) []string {
	get := func(path string, v any) (int, error) {
		req, _ := http.NewRequest("GET", f.URL()+path, nil)
		req.Header.Set("Authorization", "Token "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, nil
		}
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
	}
	var counts map[string]int
	st, err := get("/api/v1/studies/"+id+"/submissions/counts/", &counts)
	if st == http.StatusNotFound {
		return nil
	}
	if err != nil || st != http.StatusOK {
		return []string{fmt.Sprintf("counts: status %d, err %v", st, err)}
	}
	var errs []string
	sum := 0
	for k, v := range counts {
		if k != "TOTAL" {
			sum += v
		}
	}
	if sum != counts["TOTAL"] {
		errs = append(errs, fmt.Sprintf("counts %v: sum %d, want TOTAL %d", counts, sum, counts["TOTAL"]))
	}
	var study struct {
		Status               string `json:"status"`
		PlacesTaken          int    `json:"places_taken"`
		TotalAvailablePlaces int    `json:"total_available_places"`
		NumberOfSubmissions  int    `json:"number_of_submissions"`
	}
	if st, err := get("/api/v1/studies/"+id+"/", &study); err != nil || st != http.StatusOK {
		return append(errs, fmt.Sprintf("study: status %d, err %v", st, err))
	}
	if study.PlacesTaken > places || study.TotalAvailablePlaces != places || study.NumberOfSubmissions < study.PlacesTaken {
		errs = append(errs, fmt.Sprintf("study %+v: want places_taken <= %d = total, number_of_submissions >= places_taken", study, places))
	}
	return errs
}

// jsonField returns the string field key of a JSON object body ("" if absent).
func jsonField(t *testing.T, body []byte, key string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	s, _ := m[key].(string)
	return s
}

func TestSimulateStudyConfig(t *testing.T) {
	f := newTestFake(t, nil)
	tests := []struct {
		name string
		cfg  SimConfig
	}{
		{"no places", SimConfig{WorkspaceID: testWS}},
		{"unknown workspace", SimConfig{WorkspaceID: "ffffffffffffffffffffffff", Places: 1}},
		{"rates too high", SimConfig{WorkspaceID: testWS, Places: 1, ReturnRate: 0.5, TimeoutRate: 0.5}},
		{"negative rate", SimConfig{WorkspaceID: testWS, Places: 1, RejectRate: -1}},
	}
	for _, tc := range tests {
		if _, err := f.SimulateStudy(context.Background(), tc.cfg); err == nil {
			t.Errorf("%s: SimulateStudy succeeded, want an error", tc.name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.SimulateStudy(ctx, SimConfig{WorkspaceID: testWS, Places: 3}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled SimulateStudy: err %v, want context.Canceled", err)
	}
}

func TestSimulateStudyWithoutReturns(t *testing.T) {
	f := newTestFake(t, nil)
	createSecret(t, f)
	tg := newTarget(t, nil)
	subscribe(t, f, prolific.EventStudyHighReturnRate, tg.URL)
	res, err := f.SimulateStudy(context.Background(), SimConfig{WorkspaceID: testWS, Places: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, f)
	want := map[string]int{SubmissionApproved: 20}
	if diff := cmp.Diff(want, res.Submissions); diff != "" {
		t.Errorf("Submissions (-want +got):\n%s", diff)
	}
	// 1 publish + 20 x (reserve 2 + start 1 + submit 2 + approve 1) + awaiting review + completed
	if got, want := res.EventsEmitted, 1+20*6+2; got != want {
		t.Errorf("EventsEmitted = %d, want %d", got, want)
	}
	if n := len(tg.deliveries()); n != 0 {
		t.Errorf("got %d high-return-rate deliveries with no returns, want 0", n)
	}
}
