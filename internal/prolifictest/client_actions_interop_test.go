package prolifictest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

// TestClientActionsInterop drives the action endpoints with the real client.
func TestClientActionsInterop(t *testing.T) {
	f := newTestFake(t, func(o *Options) { o.RetryAfter = "0" })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := prolific.New(f.URL(), testToken, prolific.WithRetry(3, time.Millisecond, 10*time.Millisecond))

	t.Run("pause", func(t *testing.T) {
		study := newStudyIn(t, f, StudyActive)
		f.FailNext(RouteTransitionStudy, 429, 1)
		s, err := c.TransitionStudy(ctx, study, prolific.TransitionPause)
		if err != nil || s.Status != StudyPaused || s.ID != study {
			t.Fatalf("TransitionStudy = %+v, %v; want PAUSED", s, err)
		}
		if n := len(f.Calls(RouteTransitionStudy)); n != 2 {
			t.Errorf("transition calls = %d, want 2 (a 429 retried)", n)
		}
		_, err = c.TransitionStudy(ctx, study, prolific.TransitionPause)
		var apiErr *prolific.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !prolific.IsPermanent(err) ||
			!strings.Contains(err.Error(), "Cannot PAUSE a study whose status is PAUSED") {
			t.Fatalf("second pause: %v; want a permanent 400 quoting Prolific", err)
		}
		if strings.Contains(err.Error(), testToken) {
			t.Errorf("error %v holds the token", err)
		}
		if s, _ := f.StudyState(study); s.Status != StudyPaused {
			t.Errorf("study %s, want PAUSED", s.Status)
		}
	})

	t.Run("500 on a transition is not repeated", func(t *testing.T) {
		study := newStudyIn(t, f, StudyActive)
		before := len(f.Calls(RouteTransitionStudy))
		f.FailNext(RouteTransitionStudy, 500, 1)
		if _, err := c.TransitionStudy(ctx, study, prolific.TransitionStop); err == nil || prolific.IsPermanent(err) {
			t.Fatalf("err = %v, want a retryable failure", err)
		}
		if n := len(f.Calls(RouteTransitionStudy)) - before; n != 1 {
			t.Errorf("calls = %d, want 1", n)
		}
	})

	t.Run("participant group", func(t *testing.T) {
		g, err := f.CreateParticipantGroup(testWS, "", "follow-up")
		if err != nil {
			t.Fatal(err)
		}
		f.FailNext(RouteAddToParticipantGroup, 502, 1)
		members, err := c.AddParticipantsToGroup(ctx, g, []string{"p1", "p2"})
		if err != nil || len(members) != 2 {
			t.Fatalf("AddParticipantsToGroup = %+v, %v; want 2 members after a retried 502", members, err)
		}
		if _, err := c.AddParticipantsToGroup(ctx, g, []string{"p2", "p3"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.GroupMembers(g); !cmp.Equal(got, []string{"p1", "p2", "p3"}) {
			t.Errorf("members = %v, want p1, p2, p3", got)
		}
		_, err = c.AddParticipantsToGroup(ctx, "000000000000000000000000", []string{"p1"})
		if !errors.Is(err, prolific.ErrNotFound) || !prolific.IsPermanent(err) {
			t.Errorf("unknown group: %v, want a permanent ErrNotFound", err)
		}
	})

	t.Run("bulk approve", func(t *testing.T) {
		study, ids, active := reviewable(t, f, 3)
		msg, err := c.BulkApproveSubmissions(ctx, ids)
		if err != nil || msg != "Bulk approve in progress" {
			t.Fatalf("BulkApproveSubmissions = %q, %v", msg, err)
		}
		s, _ := f.StudyState(study)
		for _, id := range ids {
			if s.Submissions[id] != SubmissionApproved {
				t.Errorf("submission %s is %s, want APPROVED", id, s.Submissions[id])
			}
		}
		_, err = c.BulkApproveSubmissions(ctx, []string{active})
		if !prolific.IsPermanent(err) || !strings.Contains(err.Error(), "not AWAITING REVIEW") {
			t.Errorf("approving an ACTIVE submission: %v, want a permanent error quoting Prolific", err)
		}
	})

	t.Run("rate limit", func(t *testing.T) {
		// A separate fake: 20 requests/s, burst 2; the client waits out each 429.
		rl := newTestFake(t, func(o *Options) { o.RateLimit = 20; o.RateBurst = 2 })
		rc := prolific.New(rl.URL(), testToken, prolific.WithRetry(6, 10*time.Millisecond, 100*time.Millisecond))
		g, _ := rl.CreateParticipantGroup(testWS, "", "g")
		for i := range 6 {
			if _, err := rc.AddParticipantsToGroup(ctx, g, []string{"p" + string(rune('a'+i))}); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		limited := 0
		for _, c := range rl.Calls(RouteAddToParticipantGroup) {
			if c.Status == 429 {
				limited++
			}
		}
		if limited == 0 {
			t.Error("no call was rate limited; the test proves nothing")
		}
		if got, _ := rl.GroupMembers(g); len(got) != 6 {
			t.Errorf("members = %v, want 6", got)
		}
	})
}
