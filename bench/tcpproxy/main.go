// Command tcpproxy forwards a loopback TCP port to another address and lets
// a test cut the line: SIGUSR1 closes every open connection and refuses new
// ones (accepts and closes them at once) until SIGUSR2 restores the service.
// scripts/crash-test.sh puts it between the receiver and PostgreSQL to cut
// the database connection mid-load without touching the shared server.
//
// Usage: tcpproxy -listen 127.0.0.1:PORT -target 127.0.0.1:5432
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tcpproxy:", err)
		os.Exit(1)
	}
}

// proxy tracks open connections so they can be cut together.
type proxy struct {
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("tcpproxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to listen on")
	target := fs.String("target", "127.0.0.1:5432", "address to forward to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Println(l.Addr().String())
	p := &proxy{target: *target, conns: make(map[net.Conn]struct{})}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for {
			select {
			case s := <-sigs:
				p.setDown(s == syscall.SIGUSR1)
			case <-ctx.Done():
				l.Close()
				p.setDown(true)
				return
			}
		}
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		go p.serve(c)
	}
}

// setDown cuts every open connection when down is true.
func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
	}
	fmt.Fprintf(os.Stderr, "tcpproxy: down=%v\n", down)
}

// track registers c unless the proxy is down.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *proxy) serve(client net.Conn) {
	if !p.track(client) {
		client.Close()
		return
	}
	defer p.untrack(client)
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(server, client); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, server); done <- struct{}{} }()
	<-done // either side ending ends both
}
