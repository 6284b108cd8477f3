package postgres_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// BenchmarkSaveParallel measures Save throughput with many concurrent
// callers (group commit) over 50 studies and their submissions, with
// enrichment on, and reports events/s.
func BenchmarkSaveParallel(b *testing.B) {
	db := open(b, pgtest.DSN(b), store.Options{Enrich: true, Debounce: time.Second})
	ctx := ctxT(b)
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			e := event(submissionStatus, fmt.Sprintf("sub-%d", i%500), "ACTIVE", t0.Add(time.Duration(i)*time.Millisecond))
			if i%2 == 0 {
				e = event(studyProgress, fmt.Sprintf("study-%d", i%50), "", t0.Add(time.Duration(i)*time.Millisecond))
			}
			if _, err := db.Save(ctx, e); err != nil {
				b.Errorf("Save: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
