package capool_test

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prolific-receiver/receiver/internal/capool"
	"github.com/prolific-receiver/receiver/internal/testkit/testcert"
)

func TestLoadTrustsTheFilesCertificates(t *testing.T) {
	ca, err := testcert.New(testcert.Options{CommonName: "private CA", CA: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := testcert.New(testcert.Options{CommonName: "mail", Parent: ca})
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcert.New(testcert.Options{CommonName: "another CA", CA: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	// Two roots in one file, as a bundle would hold them.
	if err := os.WriteFile(path, append(other.CertPEM(), ca.CertPEM()...), 0o600); err != nil {
		t.Fatal(err)
	}
	pool, err := capool.Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"}); err != nil {
		t.Errorf("a certificate the file's CA signed does not verify against the pool: %v", err)
	}
	stranger, err := testcert.New(testcert.Options{CommonName: "stranger"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"}); err == nil {
		t.Error("a certificate no root in the file signed verifies against the pool")
	}
}

func TestLoadRefusesFilesWithoutCertificates(t *testing.T) {
	dir := t.TempDir()
	key, err := testcert.New(testcert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := key.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"empty.pem": nil,
		"text.pem":  []byte("not a certificate\n"),
		"key.pem":   keyPEM,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := capool.Load(path)
		if !errors.Is(err, capool.ErrNoCertificates) || !strings.Contains(err.Error(), path) {
			t.Errorf("Load(%s) = %v, want ErrNoCertificates naming the path", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("Load(%s) quotes the file: %v", name, err)
		}
	}
	if _, err := capool.Load(filepath.Join(dir, "missing.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
	if _, err := capool.Load(dir); err == nil {
		t.Error("Load(a directory) = nil error")
	}
}
