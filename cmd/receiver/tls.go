package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certReloader serves the certificate in certFile/keyFile and reloads it
// when either file changes (checked at most once a second, on handshakes),
// so a renewed certificate is picked up without a restart. A failed reload
// keeps the previous certificate.
type certReloader struct {
	certFile, keyFile string
	onError           func(error)

	mu        sync.Mutex
	cert      *tls.Certificate
	modTime   time.Time
	lastCheck time.Time
}

func newCertReloader(certFile, keyFile string, onError func(error)) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, onError: onError}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// load reads both files; it records their newest modification time.
func (r *certReloader) load() error {
	mod, err := r.newestModTime()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load certificate: %w", err)
	}
	r.cert, r.modTime = &cert, mod
	return nil
}

func (r *certReloader) newestModTime() (time.Time, error) {
	var newest time.Time
	for _, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f) // follows symlinks, as Kubernetes secret mounts swap them
		if err != nil {
			return time.Time{}, fmt.Errorf("tls: %w", err)
		}
		if st.ModTime().After(newest) {
			newest = st.ModTime()
		}
	}
	return newest, nil
}

// GetCertificate is the tls.Config hook.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.lastCheck) >= time.Second {
		r.lastCheck = now
		if mod, err := r.newestModTime(); err == nil && !mod.Equal(r.modTime) {
			if err := r.load(); err != nil && r.onError != nil {
				r.onError(err)
			}
		}
	}
	return r.cert, nil
}

// tlsConfig returns a TLS 1.2+ server configuration using r.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}
