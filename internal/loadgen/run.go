package loadgen

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prolific-receiver/receiver/internal/delivery"
)

// recentSize is how many sent events a duplicate may be drawn from.
const recentSize = 4096

// sentEvent is an event that was sent, with the target it went to.
type sentEvent struct {
	ev     Event
	target int
}

// runner holds the state of one Run.
type runner struct {
	cfg    Config
	client *http.Client
	gen    *generator
	counts counters
	acked  *ackWriter

	rr       atomic.Uint64 // round-robin position over targets
	issued   atomic.Int64  // requests claimed (closed loop)
	mu       sync.Mutex    // guards rng and recent
	rng      *rand.Rand
	recent   []sentEvent
	recentAt int
}

// Run sends load as cfg describes and returns what it measured. It stops at
// cfg.Duration or cfg.Count, whichever comes first, or early when ctx is
// cancelled (then the report says Interrupted and in-flight requests are
// abandoned). The Acked writer, if any, is flushed before Run returns.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, fmt.Errorf("loadgen: %w", err)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = randomSeed()
	}
	r := &runner{
		cfg:    cfg,
		client: newClient(cfg),
		gen:    newGenerator(cfg.Studies, seed, time.Now),
		rng:    rand.New(rand.NewPCG(seed^0xa5a5a5a5, seed)),
		counts: newCounters(),
	}
	defer r.client.CloseIdleConnections()
	if cfg.Acked != nil {
		r.acked = newAckWriter(cfg.Acked)
		stopFlush := r.acked.flushEvery(250 * time.Millisecond)
		defer stopFlush()
	}

	start := time.Now()
	if cfg.Rate > 0 {
		r.openLoop(ctx, start)
	} else {
		r.closedLoop(ctx, start)
	}
	elapsed := time.Since(start)

	rep := r.report(elapsed, ctx.Err() != nil)
	if r.acked != nil {
		rep.Acked = r.acked.len()
		if err := r.acked.flush(); err != nil {
			return rep, fmt.Errorf("loadgen: write acked IDs: %w", err)
		}
	}
	return rep, nil
}

// newClient returns an HTTP/1.1 client with one keep-alive pool per target
// as large as the number of senders.
func newClient(cfg Config) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 nil, // loopback load must not detour through a proxy from the environment
		DialContext:           dialer.DialContext,
		MaxIdleConns:          cfg.Connections * len(cfg.Targets),
		MaxIdleConnsPerHost:   cfg.Connections,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     false,
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{}, // no HTTP/2
		DisableCompression:    true,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	return &http.Client{Transport: tr, Timeout: cfg.Timeout}
}

// closedLoop runs Connections senders that each send as soon as their
// previous request completed.
func (r *runner) closedLoop(ctx context.Context, start time.Time) {
	var deadline <-chan time.Time
	if r.cfg.Duration > 0 {
		t := time.NewTimer(r.cfg.Duration - time.Since(start))
		defer t.Stop()
		deadline = t.C
	}
	stop := make(chan struct{})
	go func() {
		select {
		case <-deadline:
		case <-ctx.Done():
		case <-stop:
		}
		r.issued.Store(1 << 62) // no sender claims another request
	}()
	var wg sync.WaitGroup
	for range r.cfg.Connections {
		wg.Go(func() {
			for {
				i := r.issued.Add(1)
				if i >= 1<<62 || (r.cfg.Count > 0 && i > r.cfg.Count) {
					return
				}
				r.send(ctx, time.Now())
			}
		})
	}
	wg.Wait()
	close(stop)
}

// openLoop schedules request i at start + i/Rate and hands it to a pool of
// Connections senders. Latency counts from the scheduled time, so a slow
// server cannot hide its queueing (no coordinated omission); requests that
// start more than LateAfter behind schedule are counted as late.
func (r *runner) openLoop(ctx context.Context, start time.Time) {
	jobs := make(chan time.Time, r.cfg.Connections)
	var wg sync.WaitGroup
	for range r.cfg.Connections {
		wg.Go(func() {
			for intended := range jobs {
				if ctx.Err() != nil {
					continue // drain
				}
				r.counts.lag(time.Since(intended), r.cfg.LateAfter)
				r.send(ctx, intended)
			}
		})
	}
	nsPerReq := float64(time.Second) / r.cfg.Rate
	timer := time.NewTimer(0)
	defer timer.Stop()
schedule:
	for i := int64(0); r.cfg.Count == 0 || i < r.cfg.Count; i++ {
		offset := time.Duration(float64(i) * nsPerReq)
		if r.cfg.Duration > 0 && offset >= r.cfg.Duration {
			break
		}
		intended := start.Add(offset)
		if d := time.Until(intended); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break schedule
			}
		}
		select {
		case jobs <- intended:
		case <-ctx.Done():
			break schedule
		}
	}
	close(jobs)
	wg.Wait()
}

// plan picks what the next request sends and its request timestamp: a fresh
// event (round-robin target, timestamp = its event time) or, with
// probability Duplicates, an earlier one to a different target than it first
// went to (a fresh event instead if that one cannot be re-sent this second).
func (r *runner) plan() (se sentEvent, ts int64, dup bool) {
	n := len(r.cfg.Targets)
	r.mu.Lock()
	if r.cfg.Duplicates > 0 && len(r.recent) > 0 && r.rng.Float64() < r.cfg.Duplicates {
		orig := r.recent[r.rng.IntN(len(r.recent))]
		target := orig.target
		if n > 1 {
			target = (orig.target + 1 + r.rng.IntN(n-1)) % n
		}
		r.mu.Unlock()
		if ts, ok := r.gen.Resend(orig.ev); ok {
			return sentEvent{ev: orig.ev, target: target}, ts, true
		}
	} else {
		r.mu.Unlock()
	}
	se = sentEvent{ev: r.gen.Next(), target: int((r.rr.Add(1) - 1) % uint64(n))}
	if r.cfg.Duplicates > 0 {
		r.mu.Lock()
		if len(r.recent) < recentSize {
			r.recent = append(r.recent, se)
		} else {
			r.recent[r.recentAt] = se
			r.recentAt = (r.recentAt + 1) % recentSize
		}
		r.mu.Unlock()
	}
	return se, se.ev.EventTime, false
}

// randomSeed returns a random non-zero seed.
func randomSeed() uint64 {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) | 1
}

// send delivers one planned request and records its outcome; latency is
// measured from since.
func (r *runner) send(ctx context.Context, since time.Time) {
	se, sec, dup := r.plan()
	req, err := delivery.NewRequest(ctx, r.cfg.Targets[se.target], r.cfg.Secret, se.ev.Body, delivery.Headers{
		EventID: se.ev.ID, EventTime: time.Unix(se.ev.EventTime, 0), SentAt: time.Unix(sec, 0)})
	if err != nil {
		r.counts.failed(err, dup)
		return
	}
	resp, err := r.client.Do(req)
	if err != nil {
		r.counts.failed(err, dup)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	r.counts.done(resp.StatusCode, time.Since(since), dup)
	if resp.StatusCode/100 == 2 && r.acked != nil {
		r.acked.add(se.ev.ID)
	}
}
