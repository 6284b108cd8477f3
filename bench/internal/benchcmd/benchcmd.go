// Package benchcmd holds what the benchmark's small servers (bench/ceiling,
// bench/profile) share: how they start and stop, and how they announce the
// loopback address the scripts that start them read back.
package benchcmd

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Main runs run with the program's arguments (its name left off) and a
// context that SIGINT or SIGTERM cancels. An error is printed to stderr as
// "name: error" and the program exits 1.
func Main(name string, run func(ctx context.Context, args []string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Listen listens on addr, prints the address it got as the first line of
// stdout, and returns the listener with a server for h (a header timeout
// set) ready to Serve on it.
func Listen(addr string, h http.Handler) (net.Listener, *http.Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen: %w", err)
	}
	fmt.Println(l.Addr().String())
	return l, &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, nil
}
