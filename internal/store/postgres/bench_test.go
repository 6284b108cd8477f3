package postgres_test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	saveParallel(b, store.Options{Enrich: true, Debounce: time.Second})
}

// BenchmarkSaveParallelOutput is BenchmarkSaveParallel with one output
// every event passes, so each Save also queues an outbox row: the outbox's
// cost on the webhook path, in the same run.
func BenchmarkSaveParallelOutput(b *testing.B) {
	saveParallel(b, store.Options{Enrich: true, Debounce: time.Second, Outputs: []store.Output{{Name: "lab"}}})
}

func saveParallel(b *testing.B, opts store.Options) {
	db := open(b, pgtest.DSN(b), opts)
	ctx := ctxT(b)
	var n atomic.Int64
	b.SetParallelism(16)
	cpu0 := machineCPU()
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
	b.ReportMetric(float64((machineCPU()-cpu0).Microseconds())/float64(b.N), "machine-cpu-µs/event")
}

// machineCPU is the busy CPU time of the whole machine so far (from
// /proc/stat), so PostgreSQL's own work counts too; 0 where unreadable.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// BenchmarkSaveLatency saves from 4 callers, each pacing itself to about
// 250 events/s (≈ 1,000 events/s in all, the bench's open-loop rate), and
// reports the p50 and p99 latency of Save: with little batching, its cost
// is mostly the transaction's round trips.
func BenchmarkSaveLatency(b *testing.B) {
	db := open(b, pgtest.DSN(b), store.Options{Enrich: true, Debounce: time.Second})
	ctx := ctxT(b)
	const callers = 4
	const every = callers * time.Millisecond
	lat := make([][]time.Duration, callers)
	var n atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			next := time.Now()
			for {
				i := n.Add(1)
				if i > int64(b.N) {
					return
				}
				time.Sleep(time.Until(next))
				next = next.Add(every)
				e := event(submissionStatus, fmt.Sprintf("sub-%d", i%500), "ACTIVE", t0.Add(time.Duration(i)*time.Millisecond))
				if i%2 == 0 {
					e = event(studyProgress, fmt.Sprintf("study-%d", i%50), "", t0.Add(time.Duration(i)*time.Millisecond))
				}
				start := time.Now()
				if _, err := db.Save(ctx, e); err != nil {
					b.Errorf("Save: %v", err)
					return
				}
				lat[c] = append(lat[c], time.Since(start))
			}
		})
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}
