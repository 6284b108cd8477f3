package outputs

import (
	"context"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

func natsOutput(url string) Output {
	subj, _ := ParseSubject("prolific.{event_type}.{study_id}")
	return Output{Name: "bus", Type: "nats", Ordered: true, MaxAge: DefaultMaxAge,
		NATS: NATSSettings{URL: url, Subject: subj, Stream: "PROLIFIC", StreamSubjects: []string{"prolific.>"}, Timeout: time.Second}}
}

// TestNATSRestart: events stored while the NATS server is down reach the
// stream once it is back, each once (Nats-Msg-Id = event ID), on its
// rendered subject.
func TestNATSRestart(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		ns := testkit.StartNATS(t)
		out := natsOutput(ns.URL())
		clock := storetest.NewClock(storetest.T0)
		s := open(t, store.Options{Now: clock.Now, Outputs: StoreOutputs([]Output{out})})
		dest, err := DialNATS(out.NATS, "receiver-test")
		if err != nil {
			t.Fatal(err)
		}
		defer dest.Close()
		w := NewWorker(s, out, dest, Options{Owner: "w", Now: clock.Now, Jitter: noJitter})
		before := saveEvents(t, s, 10, 3)
		drain(t, w, s, "bus", clock, time.Minute, 5)
		if got := pending(t, s, "bus"); got != 0 {
			t.Fatalf("pending with NATS up = %d, want 0", got)
		}
		ns.Stop()
		during := saveEvents(t, s, 10, 3)
		for range 3 {
			if _, err := w.Poll(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
		}
		if got := pending(t, s, "bus"); got != 10 {
			t.Fatalf("pending with NATS down = %d, want 10", got)
		}
		ns.Start()
		deadline := time.Now().Add(20 * time.Second)
		for pending(t, s, "bus") > 0 && time.Now().Before(deadline) {
			if _, err := w.Poll(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			clock.Advance(10 * time.Minute)
			time.Sleep(50 * time.Millisecond) // the client reconnects in real time
		}
		got := ns.StreamMsgIDs(t, "PROLIFIC")
		for _, id := range append(before, during...) {
			subj, ok := got[id]
			if !ok {
				t.Errorf("event %s missing from the stream", id)
				continue
			}
			if len(subj) < len("prolific.study.status.change.study-") || subj[:29] != "prolific.study.status.change." {
				t.Errorf("subject of %s = %q, want prolific.study.status.change.<study>", id, subj)
			}
		}
		if len(got) != 20 {
			t.Errorf("stream holds %d messages, want 20", len(got))
		}
	})
}

// TestNATSDeduplicates: a publish repeated with the same event ID (a
// retry after a lost ack) is stored once.
func TestNATSDeduplicates(t *testing.T) {
	ns := testkit.StartNATS(t)
	out := natsOutput(ns.URL())
	dest, err := DialNATS(out.NATS, "receiver-test")
	if err != nil {
		t.Fatal(err)
	}
	defer dest.Close()
	m := Message{EventID: "evt-1", EventType: "study.status.change", StudyID: "s1"}
	for range 3 {
		if err := dest.Deliver(context.Background(), m, m.Encode()); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
	}
	if got := ns.StreamMsgIDs(t, "PROLIFIC"); len(got) != 1 || got["evt-1"] != "prolific.study.status.change.s1" {
		t.Errorf("stream = %v, want evt-1 once on prolific.study.status.change.s1", got)
	}
}
