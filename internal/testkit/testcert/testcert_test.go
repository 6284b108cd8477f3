package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"
)

func TestSelfSignedVerifiesForLoopback(t *testing.T) {
	c, err := New(Options{CommonName: "self", Serial: 7, CA: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Leaf.SerialNumber.Int64(); got != 7 {
		t.Errorf("serial = %d, want 7", got)
	}
	for _, name := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: c.Pool()}); err != nil {
			t.Errorf("Verify(%q) against its own pool: %v", name, err)
		}
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: c.Pool()}); err == nil {
		t.Error("Verify(example.com) succeeded, want a name mismatch")
	}
}

func TestSignedByParent(t *testing.T) {
	ca, err := New(Options{CommonName: "ca", CA: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := New(Options{CommonName: "leaf", Parent: ca})
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Leaf.IsCA {
		t.Error("leaf is a CA")
	}
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: ca.Pool()}); err != nil {
		t.Errorf("leaf against the CA's pool: %v", err)
	}
	other, err := New(Options{CommonName: "other", CA: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: other.Pool()}); err == nil {
		t.Error("the leaf verified against another CA")
	}
	if a, b := New(Options{}); b != nil || a.Leaf.SerialNumber.Sign() <= 0 {
		t.Errorf("random serial: %v, %v; want a positive one", a, b)
	}
}

func TestWriteFilesLoads(t *testing.T) {
	c, err := New(Options{CommonName: "files"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := c.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("LoadX509KeyPair: %v", err)
	}
	if !pair.Leaf.Equal(c.Leaf) {
		t.Error("the loaded certificate is not the one made")
	}
}
