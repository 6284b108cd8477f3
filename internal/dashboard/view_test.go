package dashboard

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRelTime(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{-time.Minute, "just now"}, // a sender's clock ahead of ours
		{0, "just now"},
		{4 * time.Second, "just now"},
		{42 * time.Second, "42 s ago"},
		{5*time.Minute + 59*time.Second, "5 min ago"},
		{3 * time.Hour, "3 h ago"},
		{47 * time.Hour, "47 h ago"},
		{72 * time.Hour, "3 d ago"},
	}
	for _, tc := range tests {
		if got := relTime(now, now.Add(-tc.ago)); got != tc.want {
			t.Errorf("relTime(now-%v) = %q, want %q", tc.ago, got, tc.want)
		}
	}
	if got := relTime(now, time.Time{}); got != "never" {
		t.Errorf("relTime(zero) = %q, want never", got)
	}
}

func TestStatusClass(t *testing.T) {
	tests := map[string]string{
		"AWAITING REVIEW": "awaiting-review", "TIMED-OUT": "timed-out", "ACTIVE": "active",
		"": "unknown", "  ": "unknown", `"><script>`: "script", "PARTIALLY  APPROVED!": "partially-approved",
	}
	for in, want := range tests {
		if got := statusClass(in); got != want {
			t.Errorf("statusClass(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPercent(t *testing.T) {
	tests := []struct{ taken, total, want int }{
		{0, 0, 0}, {5, 0, 0}, {37, 100, 37}, {1, 3, 33}, {10, 10, 100}, {12, 10, 100}, {-1, 10, 0},
	}
	for _, tc := range tests {
		if got := percent(tc.taken, tc.total); got != tc.want {
			t.Errorf("percent(%d, %d) = %d, want %d", tc.taken, tc.total, got, tc.want)
		}
	}
}

func TestOrderedCounts(t *testing.T) {
	got := orderedCounts(map[string]int{"RETURNED": 2, "APPROVED": 5, "ZOMBIE": 1, "ACTIVE": 0, "ALIEN": 3, "RESERVED": 1})
	want := []statusCount{{"RESERVED", "reserved", 1}, {"APPROVED", "approved", 5}, {"RETURNED", "returned", 2},
		{"ALIEN", "alien", 3}, {"ZOMBIE", "zombie", 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("orderedCounts (-want +got):\n%s", diff)
	}
}
