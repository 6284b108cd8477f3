package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// BenchmarkSaveParallel measures durable Saves (synchronous=FULL) from many
// goroutines, grouped by the Batcher; it reports events/s.
func BenchmarkSaveParallel(b *testing.B) {
	db := openTemp(b, store.Options{Enrich: true, Debounce: time.Second})
	ctx := context.Background()
	b.SetParallelism(16) // 16 × GOMAXPROCS concurrent webhook requests
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			e := storetest.NewEvent("submission.status.change", fmt.Sprint("sub-", i%500), "ACTIVE", storetest.T0.Add(time.Duration(i)*time.Second))
			if _, err := db.Save(ctx, e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
