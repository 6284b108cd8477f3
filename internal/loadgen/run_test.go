package loadgen

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

func TestRunClosedLoopCount(t *testing.T) {
	srv := newFakeReceiver(t)
	const n = 600
	rep, err := Run(context.Background(), Config{
		Targets: []string{srv.URL}, Secret: testSecret, Connections: 8, Count: n, Duration: 15 * time.Second,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := srv.got()
	if len(got) != n {
		t.Fatalf("server got %d requests, want %d", len(got), n)
	}
	ids := make(map[string]bool)
	bodies := make(map[string]bool)
	types := make(map[string]int)
	for _, d := range got {
		if ids[d.id] {
			t.Errorf("event ID %s sent twice without -duplicates", d.id)
		}
		ids[d.id] = true
		bodies[d.body] = true
		types[d.eventType]++
		if !strings.HasPrefix(d.body, `{"resource_id": "`) || strings.Contains(d.body, `","`) {
			t.Errorf("body %s is not in Python json.dumps style", d.body)
		}
	}
	if types[prolific.EventSubmissionStatusChange] < n/2 {
		t.Errorf("submission.status.change = %d of %d, want most (types %v)", types[prolific.EventSubmissionStatusChange], n, types)
	}
	for _, typ := range []string{prolific.EventStudyProgressChange, prolific.EventStudyStatusChange} {
		if types[typ] == 0 {
			t.Errorf("no %s events in %v", typ, types)
		}
	}
	if rep.Requests != n || rep.OK != n || rep.StatusCodes[200] != n || rep.Duplicates != 0 {
		t.Errorf("report requests=%d ok=%d 200s=%d dups=%d, want %d %d %d 0",
			rep.Requests, rep.OK, rep.StatusCodes[200], rep.Duplicates, n, n, n)
	}
	if rep.Latency.P50 <= 0 || rep.Latency.P50 > rep.Latency.P99 || rep.Latency.P99 > rep.Latency.Max {
		t.Errorf("latency %+v, want 0 < p50 <= p99 <= max", rep.Latency)
	}
	if rep.Throughput <= 0 || rep.Mode != "closed" || rep.Interrupted {
		t.Errorf("report throughput=%v mode=%q interrupted=%v", rep.Throughput, rep.Mode, rep.Interrupted)
	}
}

func TestRunDuplicatesGoToAnotherTarget(t *testing.T) {
	a, b := newFakeReceiver(t), newFakeReceiver(t)
	const n = 1000
	rep, err := Run(context.Background(), Config{
		Targets: []string{a.URL, b.URL}, Secret: testSecret, Connections: 4, Count: n,
		Duration: 15 * time.Second, Duplicates: 0.2,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	where := make(map[string][]int) // event ID -> servers it reached
	body := make(map[string]string)
	for i, srv := range []*fakeReceiver{a, b} {
		for _, d := range srv.got() {
			where[d.id] = append(where[d.id], i)
			if prev, ok := body[d.id]; ok && prev != d.body {
				t.Errorf("event %s re-sent with body %s, want unchanged %s", d.id, d.body, prev)
			}
			body[d.id] = d.body
		}
	}
	total := len(a.got()) + len(b.got())
	if total != n {
		t.Fatalf("servers got %d requests, want %d", total, n)
	}
	if got, want := int64(len(where)), n-rep.Duplicates; got != want {
		t.Errorf("distinct IDs = %d, want requests - duplicates = %d", got, want)
	}
	if rep.Duplicates < n/10 || rep.Duplicates > n*3/10 {
		t.Errorf("duplicates = %d, want about 20%% of %d", rep.Duplicates, n)
	}
	for id, servers := range where {
		if len(servers) > 1 && !slices.Contains(servers, 0) || len(servers) > 1 && !slices.Contains(servers, 1) {
			t.Errorf("event %s delivered %d times, all to server %d; want a duplicate on the other", id, len(servers), servers[0])
		}
	}
	if len(a.got()) < n/3 || len(b.got()) < n/3 {
		t.Errorf("round robin: a=%d b=%d, want both near %d", len(a.got()), len(b.got()), n/2)
	}
}

func TestRunOpenLoopKeepsRate(t *testing.T) {
	srv := newFakeReceiver(t)
	start := time.Now()
	rep, err := Run(context.Background(), Config{
		Targets: []string{srv.URL}, Secret: testSecret, Connections: 16, Rate: 200, Duration: 1 * time.Second,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	elapsed := time.Since(start)
	if got := len(srv.got()); got != 200 {
		t.Errorf("server got %d requests in 1 s at 200/s, want 200", got)
	}
	if elapsed < 990*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("run took %v, want about 1 s", elapsed)
	}
	if rep.Mode != "open" || rep.Rate != 200 {
		t.Errorf("mode %q rate %v, want open 200", rep.Mode, rep.Rate)
	}
}

func TestRunOpenLoopCountsQueueingInLatency(t *testing.T) {
	// One sender, a server that takes 20 ms, and a schedule of 100/s: the
	// server can do only 50/s, so requests fall behind. Latency must include
	// the time spent waiting for the schedule, not only the 20 ms.
	srv := newFakeReceiver(t)
	srv.delay = 20 * time.Millisecond
	rep, err := Run(context.Background(), Config{
		Targets: []string{srv.URL}, Secret: testSecret, Connections: 1, Rate: 100, Count: 40, Duration: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The 40th request is scheduled at 390 ms but sent after ~39*20 ms = 780 ms.
	if rep.Latency.Max < 300*time.Millisecond {
		t.Errorf("max latency = %v, want >= 300ms (queueing behind the schedule counted)", rep.Latency.Max)
	}
	if rep.Late < 20 {
		t.Errorf("late = %d, want most of 40 requests late", rep.Late)
	}
	if rep.Requests != 40 {
		t.Errorf("requests = %d, want 40", rep.Requests)
	}
}

func TestRunAckedHoldsExactly2xx(t *testing.T) {
	srv := newFakeReceiver(t)
	srv.answer = func(n int) int {
		switch n % 5 {
		case 1:
			return http.StatusServiceUnavailable
		case 3:
			return http.StatusAccepted
		}
		return http.StatusOK
	}
	var acked bytes.Buffer
	rep, err := Run(context.Background(), Config{
		Targets: []string{srv.URL}, Secret: testSecret, Connections: 4, Count: 250, Duration: 15 * time.Second, Acked: &acked,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var want []string
	for _, d := range srv.got() {
		if d.status/100 == 2 {
			want = append(want, d.id)
		}
	}
	got := strings.Fields(acked.String())
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("acked file has %d IDs, want the %d that got 2xx", len(got), len(want))
	}
	if got, want := rep.StatusCodes, map[int]int64{200: 150, 202: 50, 503: 50}; !mapsEqual(got, want) {
		t.Errorf("status codes = %v, want %v", got, want)
	}
	if rep.OK != 200 || rep.Acked != 200 {
		t.Errorf("ok = %d, acked = %d, want 200, 200", rep.OK, rep.Acked)
	}
}

func TestRunCountsNetworkErrors(t *testing.T) {
	addr := testkit.FreeAddr(t) // nothing listens here
	rep, err := Run(context.Background(), Config{
		Targets: []string{"http://" + addr + "/hooks/prolific"}, Secret: testSecret, Connections: 2, Count: 10, Duration: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := rep.Errors["connection refused"]; got != 10 {
		t.Errorf("connection refused = %d (errors %v), want 10", got, rep.Errors)
	}
	if rep.Requests != 10 || rep.OK != 0 {
		t.Errorf("requests = %d, ok = %d, want 10, 0", rep.Requests, rep.OK)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	srv := newFakeReceiver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var acked bytes.Buffer
	start := time.Now()
	rep, err := Run(ctx, Config{
		Targets: []string{srv.URL}, Secret: testSecret, Connections: 2, Rate: 50, Duration: time.Minute, Acked: &acked,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run returned after %v, want soon after cancel", d)
	}
	if !rep.Interrupted {
		t.Error("Interrupted = false, want true")
	}
	if got := len(strings.Fields(acked.String())); got == 0 || int64(got) != rep.OK {
		t.Errorf("acked file has %d IDs after interrupt, want %d (flushed)", got, rep.OK)
	}
}

func mapsEqual(a, b map[int]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
