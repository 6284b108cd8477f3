package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/testkit/testcert"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeCert writes a fresh self-signed certificate for 127.0.0.1 with the given serial.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	c, err := testcert.New(testcert.Options{CommonName: "receiver-test", Serial: serial})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
}

// servedSerial handshakes with addr and returns the certificate serial it presented.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatalf("tls dial: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

func TestCertificateReloadedWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeCert(t, certFile, keyFile, 1)
	rl, err := newCertReloader(certFile, keyFile, func(err error) { t.Errorf("reload error: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", rl.tlsConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	if got := servedSerial(t, ln.Addr().String()); got != 1 {
		t.Fatalf("serial = %d, want 1", got)
	}
	writeCert(t, certFile, keyFile, 2)
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(certFile, later, later)
	os.Chtimes(keyFile, later, later)
	time.Sleep(1100 * time.Millisecond) // the reloader checks the files at most once a second
	if got := servedSerial(t, ln.Addr().String()); got != 2 {
		t.Fatalf("after renewal serial = %d, want 2", got)
	}
	if rl.tlsConfig().MinVersion != tls.VersionTLS12 {
		t.Error("MinVersion is not TLS 1.2")
	}
	// A TLS 1.1 client is refused.
	if _, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("a TLS 1.1 handshake succeeded")
	}
}
