package backend

import (
	"slices"
	"testing"

	"github.com/prolific-receiver/receiver/internal/store"
)

func TestCheckOutputs(t *testing.T) {
	for _, tc := range []struct {
		outputs []store.Output
		ok      bool
	}{
		{nil, true},
		{[]store.Output{{Name: "a"}, {Name: "b"}}, true},
		{[]store.Output{{Name: "a"}, {Name: "a"}}, false},
		{[]store.Output{{Name: ""}}, false},
	} {
		if err := CheckOutputs(tc.outputs); (err == nil) != tc.ok {
			t.Errorf("CheckOutputs(%+v) = %v, want ok %v", tc.outputs, err, tc.ok)
		}
	}
}

func TestOutboxRows(t *testing.T) {
	outputs := []store.Output{{Name: "all"}, {Name: "done", Filter: store.OutputFilter{Statuses: []string{"COMPLETED"}}}}
	e := &store.Event{Seq: 7, Type: "submission.status.change", ResourceID: "sub-1", Status: "APPROVED"}
	got := OutboxRows(nil, outputs, e, "")
	if len(got) != 1 || got[0] != (OutboxRow{Output: "all", EventSeq: 7, OrderKey: "sub-1"}) {
		t.Errorf("OutboxRows = %+v, want one row for all keyed by the submission", got)
	}
	if got := OutboxRows(nil, outputs, e, "study-1"); got[0].OrderKey != "study-1" {
		t.Errorf("OrderKey with a study = %q, want study-1", got[0].OrderKey)
	}
}

func TestClaimWalk(t *testing.T) {
	type row struct {
		id   int64
		key  string
		free bool
	}
	rows := []row{{1, "a", false}, {2, "a", true}, {3, "b", true}, {4, "b", true}, {5, "c", true}}
	tests := []struct {
		name    string
		n       int
		ordered bool
		want    []int64
	}{
		{"ordered: a waits for its leased head, b and c give their first", 10, true, []int64{3, 5}},
		{"unordered: every free row", 10, false, []int64{2, 3, 4, 5}},
		{"at most n", 1, true, []int64{3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewClaimWalk(tc.n, tc.ordered)
			for _, r := range rows {
				if !w.Offer(r.id, r.key, r.free) {
					break
				}
			}
			if !slices.Equal(w.IDs, tc.want) {
				t.Errorf("IDs = %v, want %v", w.IDs, tc.want)
			}
		})
	}
}
