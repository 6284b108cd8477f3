package backend

import (
	"strings"

	"github.com/prolific-receiver/receiver/internal/store"
)

// FeedMatchSQL returns the condition selecting the events ms match (see
// store.FeedFilter.Match), with arg adding a value and returning its
// placeholder; "" when every event matches.
func FeedMatchSQL(ms []store.EventMatch, arg func(v any) string) string {
	var or []string
	for _, m := range ms {
		var and []string
		for _, c := range []struct {
			col  string
			vals []string
		}{{"type", m.Types}, {"status", m.Statuses}, {"source", m.Sources}} {
			if len(c.vals) == 0 {
				continue
			}
			ps := make([]string, len(c.vals))
			for i, v := range c.vals {
				ps[i] = arg(v)
			}
			and = append(and, c.col+" IN ("+strings.Join(ps, ", ")+")")
		}
		if len(and) == 0 {
			return "" // this entry matches every event
		}
		or = append(or, "("+strings.Join(and, " AND ")+")")
	}
	if len(or) == 0 {
		return ""
	}
	return "(" + strings.Join(or, " OR ") + ")"
}

// FeedThrough returns how far a feed page read (store.FeedPage.Through):
// the last event's seq when the page is full (limit events; more may
// follow), else bound, the highest seq the read could see.
func FeedThrough(events []store.Event, limit int, bound int64) int64 {
	if len(events) >= limit && len(events) > 0 {
		return events[len(events)-1].Seq
	}
	return bound
}
