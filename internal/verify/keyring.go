package verify

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Keyring holds the accepted webhook secrets and lets them rotate without a
// restart. Reads (Secrets, Current, Len) are lock-free loads of an immutable
// snapshot; Set builds a new snapshot under a mutex. A Keyring is safe for
// concurrent use and must not be copied after first use.
type Keyring struct {
	mu    sync.Mutex // serialises Set
	state atomic.Pointer[keyringState]
}

// keyringState is one immutable snapshot of a Keyring.
type keyringState struct {
	current string
	graced  []gracedSecret // former currents, newest first
	static  []string       // previous secrets from configuration; never expire
	// all is current, graced and static in order, deduplicated; returned by
	// Secrets while none of graced has expired.
	all []string
	// firstExpiry is the earliest graced deadline (zero if none).
	firstExpiry time.Time
}

// gracedSecret is a former current secret accepted until a deadline.
type gracedSecret struct {
	secret string
	until  time.Time
}

// NewKeyring returns a Keyring whose current secret is current and which
// also accepts every non-empty secret in previous, with no expiry (they come
// from configuration, e.g. PROLIFIC_WEBHOOK_PREVIOUS_SECRETS, and leave with
// it).
func NewKeyring(current string, previous []string) *Keyring {
	k := &Keyring{}
	static := make([]string, 0, len(previous))
	for _, p := range previous {
		if p != "" {
			static = append(static, p)
		}
	}
	k.state.Store(newState(current, nil, static))
	return k
}

// newState builds a snapshot, precomputing the secrets list.
func newState(current string, graced []gracedSecret, static []string) *keyringState {
	st := &keyringState{current: current, graced: graced, static: static}
	st.all = st.collect(time.Time{}, true)
	for _, g := range graced {
		if st.firstExpiry.IsZero() || g.until.Before(st.firstExpiry) {
			st.firstExpiry = g.until
		}
	}
	return st
}

// collect lists current, the graced secrets alive at now (all of them when
// all is true) and the static ones, without empties or duplicates.
func (st *keyringState) collect(now time.Time, all bool) []string {
	out := make([]string, 0, 1+len(st.graced)+len(st.static))
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(st.current)
	for _, g := range st.graced {
		if all || now.Before(g.until) {
			add(g.secret)
		}
	}
	for _, s := range st.static {
		add(s)
	}
	return out
}

// Secrets returns the secrets accepted at now, current first, then former
// current secrets still within their grace period (newest first), then the
// configured previous secrets. Empty secrets are never listed. The returned
// slice may be shared between callers and must not be modified.
func (k *Keyring) Secrets(now time.Time) []string {
	st := k.state.Load()
	if st.firstExpiry.IsZero() || now.Before(st.firstExpiry) {
		return st.all
	}
	return st.collect(now, false)
}

// Current returns the current secret ("" if none was ever set).
func (k *Keyring) Current() string {
	return k.state.Load().current
}

// Len returns how many secrets are accepted at now.
func (k *Keyring) Len(now time.Time) int {
	return len(k.Secrets(now))
}

// Set makes current the secret new deliveries are expected to be signed
// with. The previous current secret, if different and non-empty, stays
// accepted until graceUntil; webhooks.md §2.6 suggests at least 26 hours,
// since retries of older deliveries may still carry it. Former secrets whose
// grace has run out at now are dropped. Configured previous secrets are kept.
func (k *Keyring) Set(current string, graceUntil time.Time, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.state.Load()
	graced := make([]gracedSecret, 0, len(old.graced)+1)
	if old.current != "" && old.current != current && now.Before(graceUntil) {
		graced = append(graced, gracedSecret{secret: old.current, until: graceUntil})
	}
	for _, g := range old.graced {
		if g.secret != current && now.Before(g.until) && !containsSecret(graced, g.secret) {
			graced = append(graced, g)
		}
	}
	k.state.Store(newState(current, graced, old.static))
}

// containsSecret reports whether gs already holds s.
func containsSecret(gs []gracedSecret, s string) bool {
	for _, g := range gs {
		if g.secret == s {
			return true
		}
	}
	return false
}
