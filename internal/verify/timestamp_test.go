package verify

import (
	"errors"
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "1735689600", want: time.Unix(1735689600, 0)},
		{in: " 1735689600 ", want: time.Unix(1735689600, 0)},
		{in: "0", want: time.Unix(0, 0)},
		{in: "1735689600.5", want: time.Unix(1735689600, 5e8)},
		{in: "1735689600.123456", want: time.Unix(1735689600, 123456001)}, // float64 rounding
		{in: "1735689600.", want: time.Unix(1735689600, 0)},
		{in: "1735689600250", want: time.UnixMilli(1735689600250)},
		{in: "1735689600250.0", want: time.UnixMilli(1735689600250)},
		{in: "1000000000000", wantErr: true}, // exactly 1e12 is still seconds: the year 33658
		{in: "253402300799", want: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{in: "253402300800", wantErr: true}, // the year 10000
		{in: "253402300799999", want: time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)},
		{in: "253402300800000", wantErr: true},
		{in: "253402300800000.5", wantErr: true},
		{in: "9223372036854775807", wantErr: true},           // 2^63-1 ms
		{in: "20000000000", want: time.Unix(20000000000, 0)}, // the year 2603: parsed, refused by the window
		{in: "", wantErr: true},
		{in: "   ", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "+1735689600", wantErr: true},
		{in: "1e9", wantErr: true},
		{in: "0x10", wantErr: true},
		{in: "1_000", wantErr: true},
		{in: "inf", wantErr: true},
		{in: "NaN", wantErr: true},
		{in: ".", wantErr: true},
		{in: "1.2.3", wantErr: true},
		{in: "2025-01-01T00:00:00Z", wantErr: true},
		{in: "99999999999999999999", wantErr: true},
		{in: "99999999999999999999.5", wantErr: true},
		{in: "1" + string(make([]byte, 70)), wantErr: true},
	} {
		got, err := ParseTimestamp(tc.in)
		if tc.wantErr {
			if !errors.Is(err, ErrBadTimestamp) {
				t.Errorf("ParseTimestamp(%q) error = %v, want %v", tc.in, err, ErrBadTimestamp)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTimestamp(%q) error = %v, want nil", tc.in, err)
			continue
		}
		if d := got.Sub(tc.want); d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("ParseTimestamp(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if got.Location() != time.UTC {
			t.Errorf("ParseTimestamp(%q) location = %v, want UTC", tc.in, got.Location())
		}
	}
}
