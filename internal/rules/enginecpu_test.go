package rules

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/loadgen"
	"github.com/prolific-receiver/receiver/internal/notify"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// BenchmarkEngineCPU measures the CPU the rules engine spends per stored
// event on SQLite, with the ten rules of bench/rules (dry-run, which
// decides and records every action as live does), on the path it takes in
// a running receiver: events are saved in pages of a thousand from 64
// goroutines (group commits, as under load), and after each page the
// evaluator and the action worker run one pass each, as a poll would. The
// passes run on one locked OS thread and the thread's own CPU time is
// counted (getrusage RUSAGE_THREAD): SQLite's work runs in the calling
// goroutine, so that is the engine's CPU, garbage collection in the
// background aside, whatever else the shared host runs meanwhile. It
// reports engine-µs/event; bench/rules/results.md sets it against the
// receiver's CPU per event. In live mode the actions go to in-process
// fakes (Prolific's calls, the messages), whose own cost is a few
// allocations: what a live receiver spends on HTTP requests to Prolific
// (one per batch, at most one a second per rule under this traffic) is
// not in it.
func BenchmarkEngineCPU(b *testing.B) {
	for _, mode := range []Mode{ModeDryRun, ModeLive} {
		b.Run(string(mode), func(b *testing.B) { benchmarkEngineCPU(b, mode) })
	}
}

func benchmarkEngineCPU(b *testing.B, mode Mode) {
	db, err := sqlite.Open(filepath.Join(b.TempDir(), "r.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	eng := New(tenRules(b), Options{Mode: mode, Store: db, Prolific: &fakeProlific{}, Senders: map[string]notify.Sender{"slack": &fakeSender{}},
		Log: zerolog.Nop()})
	ctx := context.Background()
	if err := eng.EvaluateEvents(ctx); err != nil { // places the cursor, and the feed is read from here on
		b.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	gen := newTraffic()
	var cpu time.Duration
	events := 0
	b.ResetTimer()
	for range b.N {
		page := gen.page(1000)
		savePage(b, db, page)
		t0 := threadCPU()
		pprof.Do(ctx, pprof.Labels("component", "rules"), func(ctx context.Context) {
			if err := eng.EvaluateEvents(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := eng.ExecuteDue(ctx); err != nil {
				b.Fatal(err)
			}
		})
		cpu += threadCPU() - t0
		events += len(page)
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(events), "engine-µs/event")
}

// threadCPU is the calling OS thread's CPU time so far.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// savePage saves events from 64 goroutines, as concurrent requests do.
func savePage(b *testing.B, db store.Store, events []*store.Event) {
	var wg sync.WaitGroup
	next := make(chan *store.Event)
	for range 64 {
		wg.Go(func() {
			for e := range next {
				if _, err := db.Save(context.Background(), e); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for _, e := range events {
		next <- e
	}
	close(next)
	wg.Wait()
}

// traffic is loadgen's shape (internal/loadgen): submissions walking
// their lifecycles (most often to APPROVED) across 50 studies, whose
// webhooks do not name the study, and now and then a study status change.
type traffic struct {
	n    int
	open []*walk
}

type walk struct {
	id   string
	path []string
	next int
}

func newTraffic() *traffic { return &traffic{} }

func (g *traffic) page(n int) []*store.Event {
	out := make([]*store.Event, 0, n)
	now := time.Now()
	for len(out) < n {
		g.n++
		if g.n%50 == 0 {
			out = append(out, storetest.NewEvent("study.status.change", fmt.Sprintf("study-%02d", g.n%50), "ACTIVE", now))
			continue
		}
		if len(g.open) < 2000 {
			g.open = append(g.open, &walk{id: fmt.Sprintf("sub-%d", g.n), path: loadgen.SubmissionPaths[g.n%len(loadgen.SubmissionPaths)]})
		}
		i := (g.n * 7919) % len(g.open)
		w := g.open[i]
		out = append(out, storetest.NewEvent("submission.status.change", w.id, w.path[w.next], now))
		if w.next++; w.next == len(w.path) {
			g.open[i] = g.open[len(g.open)-1]
			g.open = g.open[:len(g.open)-1]
		}
	}
	return out
}
