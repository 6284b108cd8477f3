// Package testkit holds small helpers several packages' tests share.
package testkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// lowest port FreeAddr picks from; the ephemeral range starts above it.
const lowest = 10000

// FreeAddr returns "127.0.0.1:PORT" for a port nothing listens on now,
// below the kernel's ephemeral port range, for tests that must know an
// address before anything listens on it (a server started later, or an
// address where nothing listens at all).
//
// Asking the kernel for port 0 and closing the listener is not enough: that
// port comes from the ephemeral range, which the kernel also hands to
// outgoing connections (load generators, database clients of tests running
// alongside), so the port can be taken before the server binds it, or
// answer where a test expects "connection refused". Below that range only
// explicit binds land.
func FreeAddr(t testing.TB) string {
	t.Helper()
	hi := ephemeralStart()
	if hi <= lowest+1000 {
		t.Fatalf("the ephemeral port range starts at %d: no room below it", hi)
	}
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", lowest+rand.IntN(hi-lowest))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken
		}
		ln.Close()
		return addr
	}
	t.Fatal("no free loopback port below the ephemeral range")
	return ""
}

// ephemeralStart is the first port of the kernel's ephemeral range (Linux),
// or the IANA default where that cannot be read.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		var lo, hi int
		if _, err := fmt.Sscan(string(b), &lo, &hi); err == nil && lo > 0 {
			return lo
		}
	}
	return 49152
}
