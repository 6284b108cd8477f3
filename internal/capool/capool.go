// Package capool reads a PEM file of CA certificates into a pool, for the
// settings that let an operator trust a private CA (RECEIVER_ACME_CA_ROOTS_FILE,
// an SMTP notifier's ca_file).
package capool

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ErrNoCertificates is returned for a file that holds no PEM certificate.
var ErrNoCertificates = errors.New("no PEM certificate in the file")

// Load reads the PEM certificates in the file at path into a new pool. A
// file that cannot be read, or that holds no certificate, is an error naming
// the path; the file's content is never quoted.
func Load(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: %w", path, ErrNoCertificates)
	}
	return pool, nil
}
