package sqlite_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// BenchmarkSaveConcurrent measures durable Saves of webhook-like events
// (ObjectId event IDs, nine submission events for every study event, 50
// studies) from a fixed number of concurrent callers, as `receiver loadgen`
// sends them, without enrichment (as the benchmark runs the receiver). It
// reports events/s and the process CPU time per event (user+system), which
// is steadier than throughput on a shared machine.
func BenchmarkSaveConcurrent(b *testing.B) {
	for _, callers := range []int{8, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) { saveConcurrent(b, callers, store.Options{}) })
	}
}

// BenchmarkSaveConcurrentOutput is BenchmarkSaveConcurrent with one output
// that every event passes, so each Save also queues an outbox row: the
// outbox's cost on the webhook path, in the same run.
func BenchmarkSaveConcurrentOutput(b *testing.B) {
	b.Run("callers=64", func(b *testing.B) {
		saveConcurrent(b, 64, store.Options{Outputs: []store.Output{{Name: "lab"}}})
	})
}

// BenchmarkSaveConcurrentUngathered is BenchmarkSaveConcurrent with the
// writer on the default VFS, which writes each WAL frame as SQLite hands
// it over (two writes per page), for comparison in the same run.
func BenchmarkSaveConcurrentUngathered(b *testing.B) {
	defer sqlite.SetGatherWAL(false)()
	b.Run("callers=64", func(b *testing.B) { saveConcurrent(b, 64, store.Options{}) })
}

func saveConcurrent(b *testing.B, callers int, opts store.Options) {
	db := openTemp(b, opts)
	ctx := context.Background()
	gen := newLoadEvents(50)
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now()
	b.ResetTimer()
	for range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := db.Save(ctx, gen.next()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadEvents generates events shaped like loadgen's.
type loadEvents struct {
	mu      sync.Mutex
	rng     *rand.Rand
	studies []string
	open    []string
	t       time.Time
	counter uint32
}

func newLoadEvents(studies int) *loadEvents {
	g := &loadEvents{rng: rand.New(rand.NewPCG(1, 2)), t: storetest.T0}
	for range studies {
		g.studies = append(g.studies, g.id())
	}
	return g
}

// objectID returns an ObjectId-shaped ID, as Prolific's are (and as
// `receiver loadgen` sends): time, fixed bytes, an ascending counter.
func (g *loadEvents) objectID() string {
	g.counter++
	return fmt.Sprintf("%08x%010x%06x", uint32(g.t.Unix()), uint64(0x5eed), g.counter&0xffffff)
}

func (g *loadEvents) id() string {
	var b [12]byte
	for i := range b {
		b[i] = byte(g.rng.UintN(256))
	}
	return hex.EncodeToString(b[:])
}

var loadStatuses = []string{"RESERVED", "ACTIVE", "AWAITING REVIEW", "APPROVED"}

func (g *loadEvents) next() *store.Event {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.t = g.t.Add(time.Millisecond)
	var e *store.Event
	if g.rng.IntN(10) == 0 {
		e = storetest.NewEvent("study.status.change", g.studies[g.rng.IntN(len(g.studies))], "ACTIVE", g.t)
	} else {
		// Submission IDs are ObjectIds too, made when the submission
		// starts, as loadgen's (and Prolific's) are.
		if len(g.open) < 2000 || g.rng.IntN(4) == 0 {
			g.open = append(g.open, g.objectID())
			if len(g.open) > 2000 {
				g.open = g.open[1:]
			}
		}
		sub := g.open[g.rng.IntN(len(g.open))]
		e = storetest.NewEvent("submission.status.change", sub, loadStatuses[g.rng.IntN(len(loadStatuses))], g.t)
	}
	e.ID = g.objectID()
	e.Body = append(e.Body, make([]byte, 200)...) // webhook bodies are a few hundred bytes
	return e
}
