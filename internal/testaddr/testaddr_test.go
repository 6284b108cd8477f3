package testaddr

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeIsBindableAndBelowTheEphemeralRange(t *testing.T) {
	for range 20 {
		addr := Free(t)
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := strconv.Atoi(port); p < lowest || p >= ephemeralStart() {
			t.Fatalf("Free = %s: port outside [%d, %d)", addr, lowest, ephemeralStart())
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("cannot bind Free's %s: %v", addr, err)
		}
		ln.Close()
	}
}
