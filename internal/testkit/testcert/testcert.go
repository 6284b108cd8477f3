// Package testcert makes short-lived ECDSA certificates for the loopback
// names (127.0.0.1, ::1, localhost): for tests, fakes and the demo, which
// serve TLS on loopback. It does not import testing, so the fakes built
// into programs can use it.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// Options describe one certificate. The zero value is a self-signed server
// certificate for the loopback names with a random serial.
type Options struct {
	// CommonName is the subject's common name.
	CommonName string
	// Serial is the serial number; 0 draws a random one.
	Serial int64
	// CA lets the certificate sign others (and be trusted as a root).
	CA bool
	// Parent signs the certificate; nil signs it with its own key.
	Parent *Cert
	// Validity is how long after now it is valid (24 hours when zero); it
	// is valid from an hour ago, so clocks a little behind accept it.
	Validity time.Duration
}

// Cert is a certificate and its private key.
type Cert struct {
	Leaf *x509.Certificate
	DER  []byte
	Key  *ecdsa.PrivateKey
}

// New makes the certificate o describes.
func New(o Options) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial := big.NewInt(o.Serial)
	if o.Serial == 0 {
		if serial, err = rand.Int(rand.Reader, big.NewInt(1<<62)); err != nil {
			return nil, err
		}
	}
	if o.Validity <= 0 {
		o.Validity = 24 * time.Hour
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: o.CommonName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(o.Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if o.CA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	parent, signer := tmpl, key
	if o.Parent != nil {
		parent, signer = o.Parent.Leaf, o.Parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Cert{Leaf: leaf, DER: der, Key: key}, nil
}

// CertPEM is the certificate, PEM-encoded.
func (c *Cert) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER})
}

// KeyPEM is the private key, PEM-encoded ("EC PRIVATE KEY").
func (c *Cert) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(c.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// TLS is the certificate for a tls.Config.
func (c *Cert) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.DER}, PrivateKey: c.Key, Leaf: c.Leaf}
}

// Pool is a pool that trusts the certificate.
func (c *Cert) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(c.Leaf)
	return pool
}

// WriteFiles writes the certificate and its key as PEM files (mode 0600),
// as a server reading RECEIVER_TLS_CERT_FILE-style files expects them.
func (c *Cert) WriteFiles(certFile, keyFile string) error {
	keyPEM, err := c.KeyPEM()
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, c.CertPEM(), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, keyPEM, 0o600)
}
