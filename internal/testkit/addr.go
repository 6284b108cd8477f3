// Package testkit holds small helpers several packages' tests share.
package testkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
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
//
// A port is handed out once per process, so a test's address that is not
// bound yet (a server that starts after a fake CA, say) cannot be given to
// another test, or to that CA, in the meantime. Each process draws first
// from its own slice of the range (by PID), so test binaries running side
// by side rarely draw the same port either.
func FreeAddr(t testing.TB) string {
	t.Helper()
	hi := ephemeralStart()
	if hi <= lowest+1000 {
		t.Fatalf("the ephemeral port range starts at %d: no room below it", hi)
	}
	width := (hi - lowest) / portSlices
	first := lowest + os.Getpid()%portSlices*width
	for i := range 200 {
		port := first + rand.IntN(width)
		if i >= 100 { // this process's slice is crowded: the whole range
			port = lowest + rand.IntN(hi-lowest)
		}
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken; stays in handedOut, so it is not tried again
		}
		ln.Close()
		return addr
	}
	t.Fatal("no free loopback port below the ephemeral range")
	return ""
}

// portSlices is how many slices FreeAddr's range is cut into, one drawn
// from first per process.
const portSlices = 8

// handedOut holds every port FreeAddr returned (or found taken) in this
// process.
var handedOut sync.Map

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
