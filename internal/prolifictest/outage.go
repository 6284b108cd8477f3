package prolifictest

import (
	"errors"
	"syscall"
)

// brokenDelivery is what every delivery attempt gets while deliveries are
// broken (BreakDeliveries).
type brokenDelivery struct {
	status int
	err    error
}

// BreakDeliveries makes every delivery attempt fail, without reaching the
// receiver, until RestoreDeliveries: with status 0 as if the connection was
// refused, else as if the target had answered status (a 5xx from a broken
// proxy, say). Failed attempts are retried on the usual schedule, so with a
// short RetryBase, a high TimeScale and few MaxRetries the retries of an
// outage run out quickly, as Prolific's do after about 24 hours.
func (f *Fake) BreakDeliveries(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := &brokenDelivery{status: status}
	if status == 0 {
		b.err = errors.Join(errors.New("dial: connection refused (injected)"), syscall.ECONNREFUSED)
	}
	f.broken = b
}

// RestoreDeliveries undoes BreakDeliveries: attempts reach the receiver again.
func (f *Fake) RestoreDeliveries() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.broken = nil
}

// brokenDeliveries returns the injected outcome while deliveries are broken.
func (f *Fake) brokenDeliveries() (brokenDelivery, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken == nil {
		return brokenDelivery{}, false
	}
	return *f.broken, true
}

// SetSubscriptionEnabled enables or disables a subscription as Prolific does
// after five days of failures: events while it is disabled are neither
// delivered nor logged (webhooks.md §2.5 leaves this open; the fake takes
// the harsher reading). It reports whether the subscription exists.
func (f *Fake) SetSubscriptionEnabled(id string, enabled bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.subs[id]
	if ok {
		s.enabled = enabled
	}
	return ok
}
