package dashboard_test

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/prolific-receiver/receiver/internal/dashboard"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// populateEvents stores seven events and returns their seqs in saving order:
// study A's status, three submissions of A (linked to A), study B's status,
// B's progress, and A's high return rate.
func populateEvents(t *testing.T, st store.Store) []int64 {
	t.Helper()
	t0 := storetest.T0
	evs := []*store.Event{
		storetest.NewEvent(studyStatus, "study-a", "ACTIVE", t0),
		storetest.NewEvent(submissionEvent, "sub-1", "RESERVED", t0.Add(time.Minute)),
		storetest.NewEvent(submissionEvent, "sub-2", "RETURNED", t0.Add(2*time.Minute)),
		storetest.NewEvent(submissionEvent, "sub-1", "AWAITING REVIEW", t0.Add(3*time.Minute)),
		storetest.NewEvent(studyStatus, "study-b", "PAUSED", t0.Add(4*time.Minute)),
		storetest.NewEvent(studyProgress, "study-b", "", t0.Add(5*time.Minute)),
		storetest.NewEvent(studyHighReturn, "study-a", "", t0.Add(6*time.Minute)),
	}
	var seqs []int64
	for _, e := range evs {
		seqs = append(seqs, save(t, st, e).Seq)
	}
	for _, sub := range []string{"sub-1", "sub-2"} {
		if err := st.SetSubmissionStudy(t.Context(), sub, "study-a"); err != nil {
			t.Fatalf("SetSubmissionStudy: %v", err)
		}
	}
	return seqs
}

func seqStrings(seqs []int64, idx ...int) []string {
	out := make([]string, 0, len(idx))
	for _, i := range idx {
		out = append(out, fmt.Sprint(seqs[i]))
	}
	return out
}

// olderLink returns the href of the "Older" link, unescaped, or "".
func olderLink(body string) string {
	m := regexp.MustCompile(`<a href="([^"]*)" rel="next">Older`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func TestEventsFilters(t *testing.T) {
	st := openStore(t)
	seqs := populateEvents(t, st)
	srv := serve(t, st, dashboard.Options{})
	tests := []struct {
		name, query string
		want        []int // indexes into seqs, newest first
	}{
		{"all", "", []int{6, 5, 4, 3, 2, 1, 0}},
		{"by type", "?event_type=study.status.change", []int{4, 0}},
		{"by resource", "?resource_id=sub-1", []int{3, 1}},
		{"by study", "?study_id=study-a", []int{6, 3, 2, 1, 0}},
		{"type and study", "?event_type=submission.status.change&study_id=study-a", []int{3, 2, 1}},
		{"spaces trimmed", "?resource_id=+study-b+", []int{5, 4}},
		{"no match", "?resource_id=nope", nil},
		{"before", fmt.Sprintf("?before=%d", seqs[2]), []int{1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := get(t, srv.URL+"/events"+tc.query)
			if code != http.StatusOK {
				t.Fatalf("GET /events%s = %d, want 200", tc.query, code)
			}
			if diff := cmp.Diff(seqStrings(seqs, tc.want...), rowSeqs(body), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("GET /events%s rows (-want +got):\n%s", tc.query, diff)
			}
			if tc.want == nil && !strings.Contains(body, "No events match") {
				t.Errorf("GET /events%s: no 'No events match' message", tc.query)
			}
		})
	}

	_, _, body := get(t, srv.URL+"/events?event_type=study.progress.change&study_id=study-b")
	for _, want := range []string{
		`<option value="study.progress.change" selected>`, `name="study_id" value="study-b"`,
		`<a href="events">Clear</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("filtered page lacks %q", want)
		}
	}
	_, _, body = get(t, srv.URL+"/events")
	for _, want := range []string{
		`<span class="badge status-paused">PAUSED</span>`, `<a href="studies/study-b"><code>study-b</code></a>`,
		`<code>p-sub-1</code>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("events page lacks %q", want)
		}
	}
}

func TestEventsPaging(t *testing.T) {
	st := openStore(t)
	seqs := populateEvents(t, st)
	srv := serve(t, st, dashboard.Options{PageSize: 3})

	pages := [][]int{{6, 5, 4}, {3, 2, 1}, {0}}
	url := srv.URL + "/events?study_id=&event_type="
	for i, want := range pages {
		code, _, body := get(t, url)
		if code != http.StatusOK {
			t.Fatalf("page %d: GET %s = %d, want 200", i+1, url, code)
		}
		if diff := cmp.Diff(seqStrings(seqs, want...), rowSeqs(body)); diff != "" {
			t.Errorf("page %d rows (-want +got):\n%s", i+1, diff)
		}
		if hasNewest := strings.Contains(body, "← Newest"); hasNewest != (i > 0) {
			t.Errorf("page %d: Newest link shown %v, want %v", i+1, hasNewest, i > 0)
		}
		next := olderLink(body)
		if last := i == len(pages)-1; (next == "") != last {
			t.Fatalf("page %d: Older link %q, want one unless it is the last page", i+1, next)
		}
		if next != "" {
			if wantLink := fmt.Sprintf("events?before=%d", seqs[want[len(want)-1]]); next != wantLink {
				t.Errorf("page %d: Older link %q, want %q", i+1, next, wantLink)
			}
		}
		url = srv.URL + "/" + next // relative to the root, the page's <base>
	}

	// The filters survive paging.
	_, _, body := get(t, srv.URL+"/events?study_id=study-a")
	if got, want := olderLink(body), fmt.Sprintf("events?before=%d&study_id=study-a", seqs[2]); got != want {
		t.Errorf("filtered Older link = %q, want %q", got, want)
	}
}

func TestEventsBadQuery(t *testing.T) {
	srv := serve(t, openStore(t), dashboard.Options{})
	for _, q := range []string{"?before=abc", "?before=0", "?before=-3", "?resource_id=" + strings.Repeat("x", 201)} {
		code, _, body := get(t, srv.URL+"/events"+q)
		if code != http.StatusBadRequest || !strings.Contains(body, "Bad request") {
			t.Errorf("GET /events%s = %d, want 400 with a Bad request page", q[:min(len(q), 20)], code)
		}
	}
}

// Events recovered from Prolific's API carry a badge saying so; webhooks
// carry none.
func TestEventSourceBadges(t *testing.T) {
	st := openStore(t)
	for i, src := range []string{"", store.SourceAPI, store.SourceReconcile} {
		e := storetest.NewEvent(submissionEvent, fmt.Sprintf("sub-%d", i), "APPROVED", storetest.T0.Add(time.Duration(i)*time.Minute))
		e.Source = src
		save(t, st, e)
	}
	srv := serve(t, st, dashboard.Options{})
	code, _, body := get(t, srv.URL+"/events")
	if code != http.StatusOK {
		t.Fatalf("GET /events = %d", code)
	}
	for _, want := range []string{">via API</span>", ">correction</span>"} {
		if n := strings.Count(body, want); n != 1 {
			t.Errorf("%q appears %d times, want once", want, n)
		}
	}
	if n := strings.Count(body, `class="badge source"`); n != 2 {
		t.Errorf("source badges = %d, want 2 (none on the webhook)", n)
	}
}
