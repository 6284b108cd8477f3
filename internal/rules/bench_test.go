package rules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/notify"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// tenRulesFile holds ten rules of every kind that events can trigger, for
// BenchmarkSaveWithRules and the whole-receiver measurement (bench/rules).
const tenRulesFile = "../../bench/rules/ten-rules.yaml"

// tenRules parses tenRulesFile with SLACK_WEBHOOK_URL set.
func tenRules(tb testing.TB) *Config {
	tb.Helper()
	ten, err := os.ReadFile(tenRulesFile)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := Parse(ten, func(k string) string {
		if k == "SLACK_WEBHOOK_URL" {
			return "https://hooks.slack.test/services/x"
		}
		return ""
	}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// BenchmarkSaveWithRules measures durable Saves from many goroutines on
// SQLite (the webhook path's store work) with no rules engine and with ten
// rules evaluated and carried out (live, to in-process fakes) in the
// background on the same store, as serve runs them. Rules read the change
// feed after the commit, so the difference is what they take from the
// machine (CPU, the single SQLite writer for their decisions), not work on
// the request path. It reports events/s; bench/results.md compares them.
func BenchmarkSaveWithRules(b *testing.B) {
	for _, n := range []int{0, 10} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			db, err := sqlite.Open(filepath.Join(b.TempDir(), "r.db"), store.Options{Enrich: true, Debounce: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			if n > 0 {
				eng := New(tenRules(b), Options{Mode: ModeLive, Approve: true, Store: db, Prolific: &fakeProlific{},
					Senders: map[string]notify.Sender{"slack": &fakeSender{}}, Log: zerolog.Nop()})
				go func() { defer close(done); eng.Run(ctx) }()
			} else {
				close(done)
			}
			// A study's traffic: each submission goes RESERVED, ACTIVE, then
			// AWAITING REVIEW and APPROVED (or RETURNED); a progress event
			// every tenth; a study status change now and then.
			statuses := []string{"RESERVED", "ACTIVE", "AWAITING REVIEW", "APPROVED", "RESERVED", "ACTIVE", "RETURNED"}
			b.SetParallelism(16)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					study := fmt.Sprintf("study-%04d", i%20)
					var e *store.Event
					switch {
					case i%1000 == 0:
						e = storetest.NewEvent("study.status.change", study, "AWAITING REVIEW", storetest.T0)
					case i%10 == 0:
						e = storetest.NewEvent("study.progress.change", study, "", storetest.T0.Add(time.Duration(i)*time.Second))
					default:
						e = storetest.NewEvent("submission.status.change", fmt.Sprint("sub-", i/len(statuses)), statuses[i%len(statuses)],
							storetest.T0.Add(time.Duration(i)*time.Second))
						e.StudyID = study
					}
					if _, err := db.Save(ctx, e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			b.StopTimer()
			if n > 0 { // how far the evaluator was behind when the load stopped
				top, _ := db.Events(context.Background(), store.EventFilter{Limit: 1})
				cur, _ := db.RulesCursor(context.Background(), 0)
				if len(top) > 0 {
					b.ReportMetric(float64(top[0].Seq-cur), "unevaluated")
				}
			}
			cancel()
			<-done
		})
	}
}
