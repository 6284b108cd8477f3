package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prolific-receiver/receiver/internal/flagset"
)

// healthcheckUsage is `receiver healthcheck -h`.
const healthcheckUsage = "usage: receiver healthcheck [-url URL] [-timeout 3s]\n\nExits 0 when the receiver answers 200, 1 otherwise.\n\nflags:"

// runHealthcheck asks a running receiver's admin listener whether it is
// ready, for container HEALTHCHECKs in images without a shell or curl.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagset.New("healthcheck", healthcheckUsage, stderr)
	url := fs.String("url", "", "URL to check (default: /readyz on RECEIVER_ADMIN_ADDR, or 127.0.0.1:9090)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" {
		*url = "http://" + adminHostPort(os.Getenv("RECEIVER_ADMIN_ADDR")) + "/readyz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d: %s", *url, resp.StatusCode, body)
	}
	fmt.Fprintf(stdout, "ok: %s\n", *url)
	return nil
}

// adminHostPort turns a listen address such as ":9090" into one to dial.
func adminHostPort(addr string) string {
	if addr == "" {
		return "127.0.0.1:9090"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
