package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
	"sync/atomic"
)

// maxMACPools bounds how many secrets get a pool of keyed HMAC states. A
// receiver holds a current secret and a few previous ones; anything beyond
// the bound (tests, fuzzing) falls back to a fresh hmac.New per call.
const maxMACPools = 16

var (
	macPools     sync.Map // secret string -> *sync.Pool of *keyedMAC
	macPoolCount atomic.Int32
)

// keyedMAC is an HMAC-SHA256 keyed with one secret, reset between uses so the
// key schedule and the allocations of hmac.New are paid once per pooled state
// rather than once per request.
type keyedMAC struct {
	h   hash.Hash
	out [sha256.Size]byte
	ts  [maxTimestampLen]byte // scratch copy of the timestamp, to avoid a conversion allocation
}

// sum returns HMAC(ts + msg); the result is valid until the next call.
func (m *keyedMAC) sum(ts string, msg []byte) []byte {
	m.h.Reset()
	if len(ts) <= len(m.ts) {
		n := copy(m.ts[:], ts)
		m.h.Write(m.ts[:n])
	} else {
		m.h.Write([]byte(ts))
	}
	m.h.Write(msg)
	return m.h.Sum(m.out[:0])
}

// getMAC returns a keyed HMAC state for secret, from its pool when it has one.
func getMAC(secret string) *keyedMAC {
	if p, ok := macPools.Load(secret); ok {
		return p.(*sync.Pool).Get().(*keyedMAC)
	}
	if macPoolCount.Load() < maxMACPools {
		p := &sync.Pool{New: func() any { return newMAC(secret) }}
		if _, loaded := macPools.LoadOrStore(secret, p); !loaded {
			macPoolCount.Add(1)
		}
	}
	return newMAC(secret)
}

// putMAC returns m to the pool for secret, if there is one.
func putMAC(secret string, m *keyedMAC) {
	if p, ok := macPools.Load(secret); ok {
		p.(*sync.Pool).Put(m)
	}
}

// newMAC returns a fresh keyed HMAC state.
func newMAC(secret string) *keyedMAC {
	return &keyedMAC{h: hmac.New(sha256.New, []byte(secret))}
}
