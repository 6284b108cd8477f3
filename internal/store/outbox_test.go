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
