package loadgen

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/verify"
)

const testSecret = "whsec-test-0123456789abcdef"

// accepted is one request the fake receiver accepted as correctly signed.
type accepted struct {
	id, body, eventType string
	status              int
}

// fakeReceiver is an httptest server that checks each request the way the
// receiver would (signature, headers, body) and records it.
type fakeReceiver struct {
	*httptest.Server
	t *testing.T
	// answer picks the status for the n-th (0-based) valid request; nil means 200.
	answer func(n int) int
	// delay is slept before answering.
	delay time.Duration

	mu         sync.Mutex
	deliveries []accepted
	bad        int // requests that failed a check
}

func newFakeReceiver(t *testing.T) *fakeReceiver {
	t.Helper()
	f := &fakeReceiver{t: t}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	ts := r.Header.Get(prolific.HeaderRequestTimestamp)
	fail := func(why string) {
		f.mu.Lock()
		f.bad++
		f.mu.Unlock()
		f.t.Errorf("bad request: %s", why)
		http.Error(w, why, http.StatusUnauthorized)
	}
	switch {
	case r.Method != http.MethodPost:
		fail("method " + r.Method)
		return
	case r.Header.Get("Content-Type") != "application/json":
		fail("content type")
		return
	case r.Header.Get(prolific.HeaderSignature) != verify.Sign(testSecret, ts, body):
		fail("signature")
		return
	case len(r.Header.Get(prolific.HeaderEventID)) != 24:
		fail("event ID " + r.Header.Get(prolific.HeaderEventID))
		return
	}
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)) > time.Minute {
		fail("request timestamp " + ts)
		return
	}
	if _, err := strconv.ParseInt(r.Header.Get(prolific.HeaderTimestamp), 10, 64); err != nil {
		fail("X-Timestamp")
		return
	}
	ev, err := prolific.Decode(body)
	if err != nil {
		fail("decode: " + err.Error())
		return
	}
	if _, unknown := ev.(*prolific.Envelope); unknown {
		fail("unknown event type in " + string(body))
		return
	}
	time.Sleep(f.delay)
	f.mu.Lock()
	status := http.StatusOK
	if f.answer != nil {
		status = f.answer(len(f.deliveries))
	}
	var env prolific.Envelope
	_ = json.Unmarshal(body, &env) // Decode succeeded, so this does too
	f.deliveries = append(f.deliveries, accepted{
		id: r.Header.Get(prolific.HeaderEventID), body: string(body), eventType: env.EventType, status: status,
	})
	f.mu.Unlock()
	w.WriteHeader(status)
}

// got returns a copy of the deliveries so far.
func (f *fakeReceiver) got() []accepted {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]accepted(nil), f.deliveries...)
}
