package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// BenchmarkDecideClaim records what the rules engine decides from one
// busy feed page (docs/rules.md), as DecideClaim: the cursor moved, 110
// participant-group additions leased at once (one event in nine is an
// approval), and 10 digest decisions (a study's messages). It reports the
// wall time per page, with the machine's CPU (PostgreSQL's included) per
// page, since most of a decision's cost is round trips and PostgreSQL's
// own work.
func BenchmarkDecideClaim(b *testing.B) {
	db := open(b, pgtest.DSN(b), store.Options{})
	ctx := ctxT(b)
	from, err := db.RulesCursor(ctx, 0)
	if err != nil {
		b.Fatal(err)
	}
	page := func(n int) []store.Decision {
		var ds []store.Decision
		for i := range 110 {
			p := fmt.Sprintf("participant-%d-%d", n, i)
			ds = append(ds, store.Decision{Key: "follow-up-group/group_add/" + p, Rule: "follow-up-group", Action: "group_add",
				StudyID: fmt.Sprintf("study-%d", i%50), Target: p, Batch: "g1", EventIDs: []string{"event-" + p}, Count: 1,
				Detail: `{"event_type":"submission.status.change","status":"APPROVED"}`, Lease: true})
		}
		for i := range 10 {
			study := fmt.Sprintf("study-%d", i)
			ds = append(ds, store.Decision{Rule: "review-digest", Action: "notify", StudyID: study, Target: "slack",
				EventIDs: []string{fmt.Sprintf("event-%d-%d", n, i)}, Count: 3, Detail: `{"status":"AWAITING REVIEW"}`,
				DueAt: time.Now().Add(20 * time.Second), Digest: 10 * time.Minute, DigestGroup: "review-digest/" + study})
		}
		return ds
	}
	cpu0 := machineCPU()
	b.ResetTimer()
	for n := range b.N {
		ds := page(n)
		if _, err := db.DecideClaim(ctx, &store.RuleCursor{From: from, To: from + 1000}, ds, "bench", time.Minute); err != nil {
			b.Fatal(err)
		}
		from += 1000
	}
	b.ReportMetric(float64((machineCPU()-cpu0).Microseconds())/float64(b.N), "machine-cpu-µs/page")
}
