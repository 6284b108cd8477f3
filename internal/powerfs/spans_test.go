package powerfs

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPageSpans(t *testing.T) {
	for _, tc := range []struct {
		off, end int64
		want     []span
	}{
		{0, 0, nil},
		{10, 20, []span{{0, 10, 10}}},
		{0, PageSize, []span{{0, 0, PageSize}}},
		{PageSize - 1, PageSize + 1, []span{{0, PageSize - 1, 1}, {1, 0, 1}}},
		{100, 3*PageSize + 5, []span{{0, 100, PageSize - 100}, {1, 0, PageSize}, {2, 0, PageSize}, {3, 0, 5}}},
	} {
		if d := cmp.Diff(tc.want, slices.Collect(pageSpans(tc.off, tc.end)), cmp.AllowUnexported(span{})); d != "" {
			t.Errorf("pageSpans(%d, %d) (-want +got):\n%s", tc.off, tc.end, d)
		}
	}
}
