package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prolific-receiver/receiver/internal/store"
)

// bigBodyReader holds events 1..n, each with a body of bodySize bytes, and
// records the largest limit it was asked for.
type bigBodyReader struct {
	Reader
	n, bodySize int
	mu          sync.Mutex
	maxAsked    int
}

func (b *bigBodyReader) Events(_ context.Context, f store.EventFilter) ([]store.Event, error) {
	b.mu.Lock()
	b.maxAsked = max(b.maxAsked, f.Limit)
	b.mu.Unlock()
	var out []store.Event
	add := func(seq int) {
		body := fmt.Sprintf(`{"resource_id": "r%d", "event_type": "study.progress.change", "pad": "%s"}`, seq, strings.Repeat("x", b.bodySize-80))
		out = append(out, store.Event{Seq: int64(seq), ID: fmt.Sprint("e", seq), Type: "study.progress.change", Body: []byte(body)})
	}
	if f.Forward {
		for s := int(f.AfterSeq) + 1; s <= b.n && len(out) < f.Limit; s++ {
			add(s)
		}
		return out, nil
	}
	start := b.n
	if f.BeforeSeq > 0 {
		start = int(f.BeforeSeq) - 1
	}
	for s := start; s >= 1 && len(out) < f.Limit; s-- {
		add(s)
	}
	return out, nil
}

// TestBodiesListIsBounded: body=true&limit=1000 over large bodies reads the
// store a chunk at a time and ends the page once maxBodyPageBytes of bodies
// are in it, with a cursor that continues without a gap, backwards and
// forwards. Without bodies the limit is served whole.
func TestBodiesListIsBounded(t *testing.T) {
	rd := &bigBodyReader{n: 1000, bodySize: 64 << 10}
	tr := newTestReceiver(t, func(d *Deps) { rd.Reader = d.Reader; d.Reader = rd })
	type page struct {
		Events     []EventJSON `json:"events"`
		NextBefore int64       `json:"next_before"`
		NextAfter  *int64      `json:"next_after"`
		More       bool        `json:"more"`
	}
	get := func(q string) page {
		t.Helper()
		var p page
		if code := tr.getJSON(t, "/api/v1/events?"+q, &p); code != http.StatusOK {
			t.Fatalf("GET %s = %d", q, code)
		}
		return p
	}
	check := func(p page, first int64, step int64) {
		t.Helper()
		size := 0
		for i, e := range p.Events {
			if want := first + int64(i)*step; e.Seq != want {
				t.Fatalf("event %d has seq %d, want %d (no gap)", i, e.Seq, want)
			}
			size += len(e.Body)
		}
		if n := len(p.Events); n == 0 || n >= 1000 || size > maxBodyPageBytes+rd.bodySize || !p.More {
			t.Errorf("page of %d events, %d body bytes: want it cut near %d bytes", n, size, maxBodyPageBytes)
		}
	}
	back := get("limit=1000&body=true")
	check(back, 1000, -1)
	if last := back.Events[len(back.Events)-1].Seq; back.NextBefore != last {
		t.Fatalf("next_before = %d, want %d", back.NextBefore, last)
	}
	check(get(fmt.Sprintf("limit=1000&body=true&before=%d", back.NextBefore)), back.NextBefore-1, -1)

	fwd := get("limit=1000&body=true&after=0")
	check(fwd, 1, 1)
	if fwd.NextAfter == nil || *fwd.NextAfter != fwd.Events[len(fwd.Events)-1].Seq {
		t.Fatalf("next_after = %v, want the last seq", fwd.NextAfter)
	}
	check(get(fmt.Sprintf("limit=1000&body=true&after=%d", *fwd.NextAfter)), *fwd.NextAfter+1, 1)

	if rd.maxAsked > bodyChunk {
		t.Errorf("the store was asked for %d events with bodies at once, want at most %d", rd.maxAsked, bodyChunk)
	}
	if p := get("limit=1000"); len(p.Events) != 1000 || p.NextBefore != 1 || p.More {
		t.Errorf("without bodies: %d events, next_before %d; want 1000 and 1", len(p.Events), p.NextBefore)
	}
	// A body is JSON in the answer, unchanged.
	var v map[string]any
	if err := json.Unmarshal(back.Events[0].Body, &v); err != nil || v["resource_id"] != "r1000" {
		t.Errorf("first body = %v (%v), want resource r1000", v, err)
	}
}
