package retryafter

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-5", 0, false},
		{"soon", 0, false},
		{"7200", time.Hour, true},
		{"99999999999999999", time.Hour, true},
		{"Wed, 01 Jan 2025 12:00:10 GMT", 10 * time.Second, true},
		{"Wed, 01 Jan 2025 11:00:00 GMT", 0, true},
		{"Thu, 02 Jan 2025 12:00:00 GMT", time.Hour, true},
	}
	for _, tc := range tests {
		got, ok := Parse(tc.in, now, time.Hour)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("Parse(%q) = %v, %v, want %v, %v", tc.in, got, ok, tc.want, tc.wantOK)
		}
	}
}
