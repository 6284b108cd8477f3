package store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/prolific-receiver/receiver/internal/store"
)

// TestContentHashSizes: bodies of every size hash to
// "<timestamp>.<hex sha256(timestamp + body)>".
func TestContentHashSizes(t *testing.T) {
	const ts = "1700000000"
	for _, n := range []int{0, 1, 200, 4096, 1 << 20} {
		body := bytes.Repeat([]byte{'x'}, n)
		sum := sha256.Sum256(append([]byte(ts), body...))
		want := ts + "." + hex.EncodeToString(sum[:])
		if got := store.ContentHash(ts, body); got != want {
			t.Errorf("ContentHash(%d-byte body) = %q, want %q", n, got, want)
		}
	}
}

// TestContentHashAllocations: a body of Prolific's size costs only the
// returned string.
func TestContentHashAllocations(t *testing.T) {
	body := bytes.Repeat([]byte{'x'}, 300)
	if got := testing.AllocsPerRun(100, func() { store.ContentHash("1700000000", body) }); got != 1 {
		t.Errorf("ContentHash allocations = %v, want 1", got)
	}
}
