package store

import "testing"

func TestOutputFilterMatch(t *testing.T) {
	f := OutputFilter{EventTypes: []string{"study.status.change"}, Statuses: []string{"COMPLETED"}, StudyIDs: []string{"s1"}}
	tests := []struct {
		name                 string
		filter               OutputFilter
		typ, status, studyID string
		want                 bool
	}{
		{"empty filter matches anything", OutputFilter{}, "x", "", "", true},
		{"all lists pass", f, "study.status.change", "COMPLETED", "s1", true},
		{"other type", f, "study.progress.change", "COMPLETED", "s1", false},
		{"other status", f, "study.status.change", "ACTIVE", "s1", false},
		{"no status never matches a statuses list", f, "study.status.change", "", "s1", false},
		{"other study", f, "study.status.change", "COMPLETED", "s2", false},
		{"unknown study never matches a study list", f, "study.status.change", "COMPLETED", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.filter.Match(tc.typ, tc.status, tc.studyID); got != tc.want {
				t.Errorf("Match(%q, %q, %q) = %v, want %v", tc.typ, tc.status, tc.studyID, got, tc.want)
			}
		})
	}
}

func TestCheckOutputs(t *testing.T) {
	for _, tc := range []struct {
		outputs []Output
		ok      bool
	}{
		{nil, true},
		{[]Output{{Name: "a"}, {Name: "b"}}, true},
		{[]Output{{Name: "a"}, {Name: "a"}}, false},
		{[]Output{{Name: ""}}, false},
	} {
		if err := CheckOutputs(tc.outputs); (err == nil) != tc.ok {
			t.Errorf("CheckOutputs(%+v) = %v, want ok %v", tc.outputs, err, tc.ok)
		}
	}
}

func TestOutboxRows(t *testing.T) {
	outputs := []Output{{Name: "all"}, {Name: "done", Filter: OutputFilter{Statuses: []string{"COMPLETED"}}}}
	e := &Event{Seq: 7, Type: "submission.status.change", ResourceID: "sub-1", Status: "APPROVED"}
	got := OutboxRows(nil, outputs, e, "")
	if len(got) != 1 || got[0] != (OutboxRow{Output: "all", EventSeq: 7, OrderKey: "sub-1"}) {
		t.Errorf("OutboxRows = %+v, want one row for all keyed by the submission", got)
	}
	if got := OutboxRows(nil, outputs, e, "study-1"); got[0].OrderKey != "study-1" {
		t.Errorf("OrderKey with a study = %q, want study-1", got[0].OrderKey)
	}
}
