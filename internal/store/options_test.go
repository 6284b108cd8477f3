package store

import "testing"

func TestAliasLimit(t *testing.T) {
	tests := []struct {
		set, want int
	}{
		{0, MaxAliases},
		{-1, MaxAliases},
		{3, 3},
		{MaxAliases + 1, MaxAliases + 1},
	}
	for _, tc := range tests {
		if got := (Options{MaxAliases: tc.set}).AliasLimit(); got != tc.want {
			t.Errorf("Options{MaxAliases: %d}.AliasLimit() = %d, want %d", tc.set, got, tc.want)
		}
	}
}
