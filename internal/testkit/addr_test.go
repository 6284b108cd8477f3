package testkit

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeAddrIsBindableAndBelowTheEphemeralRange(t *testing.T) {
	for range 20 {
		addr := FreeAddr(t)
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := strconv.Atoi(port); p < lowest || p >= ephemeralStart() {
			t.Fatalf("FreeAddr = %s: port outside [%d, %d)", addr, lowest, ephemeralStart())
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("cannot bind FreeAddr's %s: %v", addr, err)
		}
		ln.Close()
	}
}

// TestFreeAddrNeverTwice: a port FreeAddr returned is not returned again in
// this process, even once nothing listens on it (the window in which a
// test's server has not bound its address yet).
func TestFreeAddrNeverTwice(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		addr := FreeAddr(t)
		if seen[addr] {
			t.Fatalf("FreeAddr returned %s twice", addr)
		}
		seen[addr] = true
	}
}
