package prolifictest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// Delivery-log statuses (SubscriptionEvent.status, webhooks.md §4.3).
const (
	StatusPending   = "PENDING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
)

// deliveryRecord is one event sent to one subscription: a delivery-log entry
// and the job the workers retry. Its id is the X-Event-ID.
type deliveryRecord struct {
	id, subID, workspaceID, eventType, resourceID, targetURL string
	body                                                     []byte
	occurred, created, updated                               time.Time
	status                                                   string
	attempts                                                 int
	done                                                     bool
}

// DeliveryStats counts the delivery engine's work since New.
type DeliveryStats struct {
	Events    int // events emitted (Emit calls and simulation transitions)
	Attempts  int // HTTP attempts made
	Successes int // attempts answered 2xx
	Failures  int // attempts that failed: non-2xx, timeout or connection error
	Exhausted int // deliveries given up after the last retry, or whose subscription went away
	Pending   int // deliveries in flight or waiting for a retry
}

// Stats returns the delivery counters.
func (f *Fake) Stats() DeliveryStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.Pending = f.pending
	return s
}

// Emit fires an event in the workspace: the body is {"resource_id": ...,
// "event_type": ..., fields...} serialised like Python's json.dumps, and one
// delivery is queued for every enabled subscription to eventType in the
// workspace. It returns the X-Event-ID of each delivery. Prolific's docs do
// not say whether two subscriptions to one event share an X-Event-ID; here
// each delivery has its own, equal to its delivery-log id.
func (f *Fake) Emit(workspaceID, eventType, resourceID string, fields ...Field) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.workspaces[workspaceID]; !ok {
		return nil, fmt.Errorf("emit %s: unknown workspace %q", eventType, workspaceID)
	}
	return f.emitLocked(workspaceID, eventType, resourceID, fields...)
}

// emitLocked is Emit with f.mu held.
func (f *Fake) emitLocked(workspaceID, eventType, resourceID string, fields ...Field) ([]string, error) {
	all := append([]Field{F("resource_id", resourceID), F("event_type", eventType)}, fields...)
	body, err := EncodePython(Object(all))
	if err != nil {
		return nil, fmt.Errorf("emit %s: %w", eventType, err)
	}
	f.stats.Events++
	now := f.now()
	var ids []string
	for _, id := range f.subOrder {
		s := f.subs[id]
		if !s.enabled || s.workspaceID != workspaceID || s.eventType != eventType {
			continue
		}
		d := &deliveryRecord{
			id: NewID(), subID: s.id, workspaceID: workspaceID, eventType: eventType, resourceID: resourceID,
			targetURL: s.targetURL, body: body, occurred: now, created: now, updated: now, status: StatusPending,
		}
		s.log = append(s.log, d)
		ids = append(ids, d.id)
		f.addPendingLocked(1)
		f.q.push(d)
	}
	return ids, nil
}

func (f *Fake) addPendingLocked(n int) {
	if f.pending == 0 && n > 0 {
		f.idle = make(chan struct{})
	}
	f.pending += n
	if f.pending == 0 {
		close(f.idle)
	}
}

// WaitIdle blocks until no delivery is in flight or waiting for a retry, ctx
// ends, or the fake is closed.
func (f *Fake) WaitIdle(ctx context.Context) error {
	f.mu.Lock()
	idle := f.idle
	f.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-f.closed:
		return fmt.Errorf("wait idle: fake closed")
	case <-ctx.Done():
		return fmt.Errorf("wait idle: %w", ctx.Err())
	}
}

func (f *Fake) worker() {
	defer f.wg.Done()
	for {
		d, ok := f.q.pop()
		if !ok {
			return
		}
		f.attempt(d)
	}
}

// attempt sends one delivery attempt, signed with the workspace's secret as
// it is now and a fresh X-Prolific-Request-Timestamp, then records the
// outcome and schedules a retry if one is left.
func (f *Fake) attempt(d *deliveryRecord) {
	f.mu.Lock()
	s, ok := f.subs[d.subID]
	if !ok || !s.enabled {
		// Deleted or disabled since the event: Prolific's behaviour is
		// undocumented; the fake drops the delivery.
		d.status, d.updated, d.done = StatusFailed, f.now(), true
		f.stats.Exhausted++
		f.addPendingLocked(-1)
		f.mu.Unlock()
		return
	}
	target := s.targetURL
	secret := ""
	if ws := f.workspaces[d.workspaceID]; ws.secret != nil {
		secret = ws.secret.value
	}
	d.attempts++
	attemptNo := d.attempts
	f.stats.Attempts++
	f.mu.Unlock()

	var status int
	var err error
	if broken, ok := f.brokenDeliveries(); ok {
		status, err = broken.status, broken.err
	} else {
		status, err = f.send(d, target, secret)
	}
	success := err == nil && status >= 200 && status < 300
	if f.opts.Logf != nil {
		f.opts.Logf("delivery %s %s attempt %d to %s: status %d err %v", d.id, d.eventType, attemptNo, target, status, err)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	d.updated = f.now()
	if success {
		d.status, d.done = StatusSucceeded, true
		f.stats.Successes++
		f.addPendingLocked(-1)
		return
	}
	d.status = StatusFailed
	f.stats.Failures++
	retry := attemptNo // retries made so far + 1 = the retry about to be scheduled
	if retry > f.opts.MaxRetries {
		d.done = true
		f.stats.Exhausted++
		f.addPendingLocked(-1)
		return
	}
	delay := f.backoff(retry)
	time.AfterFunc(delay, func() { f.q.push(d) })
}

// backoff is the scaled, fully jittered wait before retry n (1-based): a
// random time in [0, RetryBase·2^(n-1)).
func (f *Fake) backoff(n int) time.Duration {
	limit := f.opts.scale(f.opts.RetryBase << (n - 1))
	if limit <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(limit)))
}

// send makes one POST to target and returns the response status.
func (f *Fake) send(d *deliveryRecord, target, secret string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), f.opts.DeliveryTimeout)
	defer cancel()
	go func() {
		select {
		case <-f.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(d.body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	ts := strconv.FormatInt(f.opts.Now().Unix(), 10)
	// Assigned directly so the wire keeps Prolific's spelling (X-Event-ID,
	// not Go's canonical X-Event-Id).
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header[prolific.HeaderSignature] = []string{verify.Sign(secret, ts, d.body)}
	req.Header[prolific.HeaderRequestTimestamp] = []string{ts}
	req.Header[prolific.HeaderEventID] = []string{d.id}
	req.Header[prolific.HeaderTimestamp] = []string{strconv.FormatInt(d.occurred.Unix(), 10)}
	resp, err := f.opts.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read response: %w", err)
	}
	return resp.StatusCode, nil
}
