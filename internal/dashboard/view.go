package dashboard

import (
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prolific-receiver/receiver/internal/handlers"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// submissionOrder is the order submission statuses are shown in: a
// participant's path first, then the ways out. Unknown statuses follow,
// alphabetically.
var submissionOrder = prolific.SubmissionStatuses

// studyRow is one study as the studies page and its JSON show it: the read
// API's fields plus what the page derives from them.
type studyRow struct {
	handlers.StudyJSON
	StatusClass    string        `json:"status_class"`
	Percent        int           `json:"percent"`
	Counts         []statusCount `json:"counts"`
	HighReturnRate bool          `json:"high_return_rate"`
	LastEventAgo   string        `json:"last_event_ago"`
	URL            string        `json:"url"`
}

// statusCount is how many submissions of a study have one status.
type statusCount struct {
	Status string `json:"status"`
	Class  string `json:"class"`
	N      int    `json:"n"`
}

// totals are the page-level sums over the listed studies.
type totals struct {
	Studies        int `json:"studies"`
	Active         int `json:"active"`
	PlacesTaken    int `json:"places_taken"`
	PlacesTotal    int `json:"places_total"`
	Submissions    int `json:"submissions"`
	AwaitingReview int `json:"awaiting_review"`
	HighReturnRate int `json:"high_return_rate"`
}

// snapshot is the studies page's data, rendered as HTML by GET / and as
// JSON by GET /dashboard/studies.json.
type snapshot struct {
	GeneratedAt  time.Time  `json:"generated_at"`
	PollMillis   int64      `json:"poll_ms"`
	Totals       totals     `json:"totals"`
	Studies      []studyRow `json:"studies"`
	StudiesLimit int        `json:"studies_limit"`
}

func newSnapshot(studies []store.Study, now time.Time, poll time.Duration, limit int) snapshot {
	s := snapshot{GeneratedAt: now.UTC(), PollMillis: poll.Milliseconds(), StudiesLimit: limit,
		Studies: make([]studyRow, 0, len(studies))}
	for _, st := range studies {
		row := newStudyRow(st, now)
		s.Studies = append(s.Studies, row)
		s.Totals.Studies++
		if st.Status == prolific.StudyActive {
			s.Totals.Active++
		}
		s.Totals.PlacesTaken += st.PlacesTaken
		s.Totals.PlacesTotal += st.PlacesTotal
		for _, c := range row.Counts {
			s.Totals.Submissions += c.N
		}
		s.Totals.AwaitingReview += st.SubmissionCounts[prolific.SubmissionAwaitingReview]
		if row.HighReturnRate {
			s.Totals.HighReturnRate++
		}
	}
	return s
}

func newStudyRow(s store.Study, now time.Time) studyRow {
	return studyRow{
		StudyJSON:      handlers.ToStudyJSON(s),
		StatusClass:    statusClass(s.Status),
		Percent:        percent(s.PlacesTaken, s.PlacesTotal),
		Counts:         orderedCounts(s.SubmissionCounts),
		HighReturnRate: s.HighReturnRateEvents > 0,
		LastEventAgo:   relTime(now, s.LastEventAt),
		URL:            studyURL(s.ID),
	}
}

// orderedCounts lists the non-zero counts in submissionOrder, unknown
// statuses last.
func orderedCounts(m map[string]int) []statusCount {
	out := make([]statusCount, 0, len(m))
	for _, st := range submissionOrder {
		if n := m[st]; n > 0 {
			out = append(out, statusCount{Status: st, Class: statusClass(st), N: n})
		}
	}
	var extra []string
	for st, n := range m {
		if n > 0 && !slices.Contains(submissionOrder, st) {
			extra = append(extra, st)
		}
	}
	slices.Sort(extra)
	for _, st := range extra {
		out = append(out, statusCount{Status: st, Class: statusClass(st), N: m[st]})
	}
	return out
}

// statusClass turns a status as Prolific spells it into a CSS class suffix:
// "AWAITING REVIEW" → "awaiting-review"; "" → "unknown".
func statusClass(status string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(status) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}

// percent is taken/total as a whole percentage in [0, 100]; 0 when total is unknown.
func percent(taken, total int) int {
	if total <= 0 || taken <= 0 {
		return 0
	}
	return min(100, taken*100/total)
}

// relTime says how long before now t was, briefly: "just now", "42 s ago",
// "5 min ago", "3 h ago", "2 d ago"; "never" for the zero time.
func relTime(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%d d ago", int(d/(24*time.Hour)))
}

func studyURL(id string) string { return "studies/" + url.PathEscape(id) }

// funcs are the templates' helpers.
func (d *Dashboard) funcs() template.FuncMap {
	return template.FuncMap{
		"asset":       d.assetURL,
		"statusClass": statusClass,
		"percent":     percent,
		"studyURL":    studyURL,
		"ago":         func(t time.Time) string { return relTime(d.opts.Now(), t) },
		"agoPtr": func(t *time.Time) string {
			if t == nil {
				return "never"
			}
			return relTime(d.opts.Now(), *t)
		},
		"iso": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"stamp": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"short": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05")
		},
		"orDash": func(s string) string {
			if s == "" {
				return "—"
			}
			return s
		},
	}
}
