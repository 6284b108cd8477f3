package prolifictest

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// newStudyIn creates a study and moves it to status (directly, not through the API).
func newStudyIn(t *testing.T, f *Fake, status string) string {
	t.Helper()
	id, err := f.CreateStudy(testWS, "", "Wave 1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if status != StudyUnpublished {
		if err := f.SetStudyStatus(id, status); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func TestTransitionStudy(t *testing.T) {
	tests := []struct {
		from, action string
		body         map[string]string // nil: {"action": action}
		wantCode     int
		wantStatus   string // after the call
	}{
		{from: StudyActive, action: "PAUSE", wantCode: 200, wantStatus: StudyPaused},
		{from: StudyActive, action: "STOP", wantCode: 200, wantStatus: StudyCompleted},
		{from: StudyPaused, action: "START", wantCode: 200, wantStatus: StudyActive},
		{from: StudyPaused, action: "STOP", wantCode: 200, wantStatus: StudyCompleted},
		{from: StudyUnpublished, action: "PUBLISH", wantCode: 200, wantStatus: StudyActive},
		{from: StudyScheduled, action: "CANCEL_PUBLISH", wantCode: 200, wantStatus: StudyUnpublished},
		{from: StudyUnpublished, action: "SCHEDULE_PUBLISH", body: map[string]string{"action": "SCHEDULE_PUBLISH", "publish_at": "2030-01-01T00:00:00Z"}, wantCode: 200, wantStatus: StudyScheduled},
		{from: StudyUnpublished, action: "SCHEDULE_PUBLISH", wantCode: 400, wantStatus: StudyUnpublished},
		// PAUSE only from ACTIVE.
		{from: StudyPaused, action: "PAUSE", wantCode: 400, wantStatus: StudyPaused},
		{from: StudyAwaitingReview, action: "PAUSE", wantCode: 400, wantStatus: StudyAwaitingReview},
		{from: StudyCompleted, action: "PAUSE", wantCode: 400, wantStatus: StudyCompleted},
		{from: StudyUnpublished, action: "PAUSE", wantCode: 400, wantStatus: StudyUnpublished},
		// STOP only from ACTIVE or PAUSED.
		{from: StudyAwaitingReview, action: "STOP", wantCode: 400, wantStatus: StudyAwaitingReview},
		{from: StudyCompleted, action: "STOP", wantCode: 400, wantStatus: StudyCompleted},
		{from: StudyActive, action: "START", wantCode: 400, wantStatus: StudyActive},
		{from: StudyActive, action: "pause", wantCode: 400, wantStatus: StudyActive},
		{from: StudyActive, action: "DELETE", wantCode: 400, wantStatus: StudyActive},
	}
	for _, tc := range tests {
		t.Run(tc.from+" "+tc.action, func(t *testing.T) {
			f := newTestFake(t, nil)
			id := newStudyIn(t, f, tc.from)
			events := f.Stats().Events
			body := tc.body
			if body == nil {
				body = map[string]string{"action": tc.action}
			}
			st, _, b := call(t, f, "POST", "/api/v1/studies/"+id+"/transition/", body)
			if st != tc.wantCode {
				t.Fatalf("status = %d, want %d: %s", st, tc.wantCode, b)
			}
			got, _ := f.StudyState(id)
			if got.Status != tc.wantStatus {
				t.Errorf("study status = %s, want %s", got.Status, tc.wantStatus)
			}
			emitted := f.Stats().Events - events
			if st == 200 {
				if s := mustDecode[studyJSON](t, b); s.ID != id || s.Status != tc.wantStatus {
					t.Errorf("answer = %s, want the study in %s", b, tc.wantStatus)
				}
				if emitted != 1 {
					t.Errorf("events emitted = %d, want 1 study.status.change", emitted)
				}
				return
			}
			if e := mustDecode[errBody](t, b); e.Error.Status != 400 || e.Error.Detail == nil {
				t.Errorf("error body = %s, want Prolific's error shape", b)
			}
			if emitted != 0 {
				t.Errorf("events emitted = %d after a refused transition, want 0", emitted)
			}
		})
	}
	f := newTestFake(t, nil)
	if st, _, _ := call(t, f, "POST", "/api/v1/studies/nope/transition/", map[string]string{"action": "PAUSE"}); st != 404 {
		t.Errorf("unknown study: status %d, want 404", st)
	}
}

// reviewable makes a study with n submissions AWAITING REVIEW and one still
// ACTIVE, and returns the study, the reviewable submission IDs and the active one.
func reviewable(t *testing.T, f *Fake, n int) (string, []string, string) {
	t.Helper()
	study := newStudyIn(t, f, StudyActive)
	var ids []string
	for range n + 1 {
		id, err := f.AddSubmission(study)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids[:n] {
		if err := f.SetSubmissionStatus(id, SubmissionAwaitingReview); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SetSubmissionStatus(ids[n], SubmissionActive); err != nil {
		t.Fatal(err)
	}
	return study, ids[:n], ids[n]
}

func TestBulkApprove(t *testing.T) {
	t.Run("approves submissions awaiting review", func(t *testing.T) {
		f := newTestFake(t, nil)
		study, ids, _ := reviewable(t, f, 3)
		events := f.Stats().Events
		st, _, b := call(t, f, "POST", "/api/v1/submissions/bulk-approve/", map[string][]string{"submission_ids": {ids[0], ids[1], ids[0]}})
		if st != 200 || mustDecode[string](t, b) != "Bulk approve in progress" {
			t.Fatalf("status %d %s, want 200 with Prolific's message", st, b)
		}
		s, _ := f.StudyState(study)
		if s.Submissions[ids[0]] != SubmissionApproved || s.Submissions[ids[1]] != SubmissionApproved || s.Submissions[ids[2]] != SubmissionAwaitingReview {
			t.Errorf("submissions = %v, want the two named approved and the third still awaiting review", s.Submissions)
		}
		if got := f.Stats().Events - events; got != 2 {
			t.Errorf("events = %d, want 2 submission.status.change", got)
		}
	})
	t.Run("study and participant form", func(t *testing.T) {
		f := newTestFake(t, nil)
		study, ids, _ := reviewable(t, f, 1)
		st, _, b := call(t, f, "GET", "/api/v1/submissions/"+ids[0]+"/", nil)
		if st != 200 {
			t.Fatal(string(b))
		}
		participant := mustDecode[submissionJSON](t, b).Participant
		st, _, b = call(t, f, "POST", "/api/v1/submissions/bulk-approve/", map[string]any{"study_id": study, "participant_ids": []string{participant}})
		if s, _ := f.StudyState(study); st != 200 || s.Submissions[ids[0]] != SubmissionApproved {
			t.Fatalf("status %d %s, submission %s; want it approved", st, b, s.Submissions[ids[0]])
		}
	})
	refusals := []struct {
		name string
		body func(ids []string, active string) any
		want string
	}{
		{"one not awaiting review", func(ids []string, active string) any {
			return map[string][]string{"submission_ids": {ids[0], active}}
		}, "not AWAITING REVIEW"},
		{"unknown id", func(ids []string, _ string) any {
			return map[string][]string{"submission_ids": {ids[0], "000000000000000000000000"}}
		}, "not found"},
		{"empty", func([]string, string) any { return map[string][]string{"submission_ids": {}} }, "empty"},
		{"neither form", func([]string, string) any { return map[string]any{"participant_ids": []string{"p"}} }, "study_id"},
		{"over 1000", func(ids []string, _ string) any {
			many := make([]string, MaxBulkApprove+1)
			for i := range many {
				many[i] = ids[0]
			}
			return map[string][]string{"submission_ids": many}
		}, "1000"},
	}
	for _, tc := range refusals {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			f := newTestFake(t, nil)
			study, ids, active := reviewable(t, f, 2)
			before, _ := f.StudyState(study)
			st, _, b := call(t, f, "POST", "/api/v1/submissions/bulk-approve/", tc.body(ids, active))
			if st != 400 || !strings.Contains(string(b), tc.want) {
				t.Fatalf("status %d %s, want 400 naming %q", st, b, tc.want)
			}
			after, _ := f.StudyState(study)
			if diff := cmp.Diff(before.Submissions, after.Submissions); diff != "" {
				t.Errorf("a refused request changed submissions (-before +after):\n%s", diff)
			}
		})
	}
}

func TestParticipantGroups(t *testing.T) {
	f := newTestFake(t, nil)
	g, err := f.CreateParticipantGroup(testWS, "", "Wave 2")
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/participant-groups/" + g + "/participants/"
	members := func(b []byte) []string {
		var out []string
		for _, m := range mustDecode[listBody[membershipJSON]](t, b).Results {
			if m.DatetimeCreated == "" {
				t.Errorf("member %s has no datetime_created", m.ParticipantID)
			}
			out = append(out, m.ParticipantID)
		}
		return out
	}
	st, _, b := call(t, f, "POST", path, map[string][]string{"participant_ids": {"p1", "p2"}})
	if st != 200 || !cmp.Equal(members(b), []string{"p1", "p2"}) {
		t.Fatalf("first add: %d %s, want p1, p2", st, b)
	}
	// Members already present are ignored, repeats within a request too.
	st, _, b = call(t, f, "POST", path, map[string][]string{"participant_ids": {"p2", "p3", "p3", "p1"}})
	if st != 200 || !cmp.Equal(members(b), []string{"p1", "p2", "p3"}) {
		t.Fatalf("second add: %d %s, want p1, p2, p3", st, b)
	}
	if st, _, b = call(t, f, "GET", path, nil); st != 200 || !cmp.Equal(members(b), []string{"p1", "p2", "p3"}) {
		t.Errorf("list: %d %s, want p1, p2, p3", st, b)
	}
	if got, _ := f.GroupMembers(g); !cmp.Equal(got, []string{"p1", "p2", "p3"}) {
		t.Errorf("GroupMembers = %v, want p1, p2, p3", got)
	}
	for name, tc := range map[string]struct {
		path string
		body any
		want int
	}{
		"unknown group": {"/api/v1/participant-groups/nope/participants/", map[string][]string{"participant_ids": {"p1"}}, 404},
		"empty list":    {path, map[string][]string{"participant_ids": {}}, 400},
		"blank id":      {path, map[string][]string{"participant_ids": {"p9", " "}}, 400},
	} {
		if st, _, b := call(t, f, "POST", tc.path, tc.body); st != tc.want {
			t.Errorf("%s: status %d %s, want %d", name, st, b, tc.want)
		}
	}
	if got, _ := f.GroupMembers(g); len(got) != 3 {
		t.Errorf("refused requests changed the group: %v", got)
	}
}

func TestRateLimit(t *testing.T) {
	// One request per 10 s after a burst of 3: slow enough that a loaded
	// machine cannot refill a token between the five requests.
	f := newTestFake(t, func(o *Options) { o.RateLimit = 0.1; o.RateBurst = 3 })
	var codes []int
	var retryAfter string
	for range 5 {
		st, h, _ := call(t, f, "GET", "/api/v1/hooks/event-types/", nil)
		codes = append(codes, st)
		if st == 429 {
			retryAfter = h.Get("Retry-After")
		}
	}
	if !cmp.Equal(codes, []int{200, 200, 200, 429, 429}) {
		t.Errorf("statuses = %v, want a burst of 3 then 429s", codes)
	}
	if n, err := strconv.Atoi(retryAfter); err != nil || n < 1 || n > 10 {
		t.Errorf("Retry-After = %q, want 1 to 10 seconds (one request per 10 s)", retryAfter)
	}
	if got := f.Calls(RouteGetEventTypes); len(got) != 5 || got[3].Status != 429 {
		t.Errorf("recorded %d calls, want 5 with the 4th a 429", len(got))
	}
}

func TestCallRecord(t *testing.T) {
	f := newTestFake(t, func(o *Options) { o.MaxCalls = 4 })
	study := newStudyIn(t, f, StudyActive)
	call(t, f, "GET", "/api/v1/studies/"+study+"/", nil)
	call(t, f, "POST", "/api/v1/studies/"+study+"/transition/", map[string]string{"action": "PAUSE"})
	call(t, f, "POST", "/api/v1/studies/"+study+"/transition/", map[string]string{"action": "PAUSE"})
	callToken(t, f, "bad-token-value", "GET", "/api/v1/hooks/event-types/", nil)
	call(t, f, "POST", "/api/v1/no-such-thing/", nil)

	got := f.Calls(RouteTransitionStudy)
	want := []Call{
		{Seq: 2, Route: RouteTransitionStudy, Method: "POST", Path: "/api/v1/studies/" + study + "/transition/", Body: json.RawMessage(`{"action":"PAUSE"}`), Status: 200},
		{Seq: 3, Route: RouteTransitionStudy, Method: "POST", Path: "/api/v1/studies/" + study + "/transition/", Body: json.RawMessage(`{"action":"PAUSE"}`), Status: 400},
	}
	ignoreAt := cmp.Comparer(func(a, b time.Time) bool { return true })
	if diff := cmp.Diff(want, got, ignoreAt); diff != "" {
		t.Errorf("Calls(transition) (-want +got):\n%s", diff)
	}
	all := f.Calls()
	if len(all) != 4 || all[0].Seq != 2 || all[3].Route != "" || all[3].Status != 404 || all[2].Status != 401 {
		t.Errorf("Calls() = %+v, want the last 4 (MaxCalls), with the 401 and the unrouted 404", all)
	}

	// Over HTTP, without a token, filtered.
	resp, err := http.Get(f.URL() + FakeCallsPath + "?route=" + RouteTransitionStudy + "&since=2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var overHTTP []Call
	if err := json.NewDecoder(resp.Body).Decode(&overHTTP); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d, %v", FakeCallsPath, resp.StatusCode, err)
	}
	if diff := cmp.Diff(want[1:], overHTTP, ignoreAt); diff != "" {
		t.Errorf("GET %s (-want +got):\n%s", FakeCallsPath, diff)
	}
	b, _ := json.Marshal(f.Calls())
	if strings.Contains(string(b), testToken) || strings.Contains(string(b), "bad-token-value") {
		t.Errorf("the call record holds a token: %s", b)
	}
}

// TestSimulationHonoursPause: a study paused through the API stops
// recruiting, reviews who took part, and stays PAUSED.
func TestSimulationHonoursPause(t *testing.T) {
	f := newTestFake(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const places = 60
	// TimeScale 60000: about 5 s of wall time for the whole study.
	done := make(chan SimResult, 1)
	studyID := NewID()
	go func() {
		res, err := f.SimulateStudy(ctx, SimConfig{WorkspaceID: testWS, StudyID: studyID, Places: places, Duration: 5 * time.Second * 60000, Seed: 7})
		if err != nil {
			t.Errorf("SimulateStudy: %v", err)
		}
		done <- res
	}()
	for {
		s, ok := f.StudyState(studyID)
		if ok && s.NumberOfSubmissions >= 5 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("simulation never got 5 submissions")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, _, b := call(t, f, "POST", "/api/v1/studies/"+studyID+"/transition/", map[string]string{"action": "PAUSE"}); st != 200 {
		t.Fatalf("pause: %d %s", st, b)
	}
	res := <-done
	s, _ := f.StudyState(studyID)
	if res.Status != StudyPaused || s.Status != StudyPaused {
		t.Errorf("final status = %s (API %s), want PAUSED", res.Status, s.Status)
	}
	if s.PlacesTaken >= places {
		t.Errorf("places taken = %d of %d: recruiting went on after the pause", s.PlacesTaken, places)
	}
	if s.Counts[SubmissionAwaitingReview] != 0 || s.Counts[SubmissionActive] != 0 || s.Counts[SubmissionReserved] != 0 {
		t.Errorf("counts = %v, want everyone who took part finished and reviewed", s.Counts)
	}
}
