package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/capool"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres"
)

// The public listener can obtain and renew its own certificates from an
// ACME CA (Let's Encrypt by default) with certmagic: docs/acme.md says why
// certmagic, how replicas share one account and one certificate per domain
// (the store's CertStorage on PostgreSQL, files beside the SQLite database)
// and how the challenges are answered: TLS-ALPN-01 on the public listener
// always, HTTP-01 on RECEIVER_ACME_HTTP_ADDR unless that is switched off.

// acmeHTTPOff switches the HTTP-01 listener off when RECEIVER_ACME_HTTP_ADDR
// has it (as does the empty value).
const acmeHTTPOff = "off"

// dnsName is a DNS name of two labels or more (no wildcard, port or scheme).
var dnsName = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// acmeEnabled reports whether the public listener gets its certificates by ACME.
func (c Config) acmeEnabled() bool { return len(c.ACMEDomains) > 0 }

// acmeHTTPAddr is the HTTP-01 listener's address, "" when it is off.
func (c Config) acmeHTTPAddr() string {
	if a := strings.TrimSpace(c.ACMEHTTPAddr); a != acmeHTTPOff {
		return a
	}
	return ""
}

// validateACME checks the RECEIVER_ACME_* variables; every message names
// the variable to fix.
func (c *Config) validateACME() []error {
	var errs []error
	for i, d := range c.ACMEDomains {
		c.ACMEDomains[i] = strings.ToLower(strings.TrimSpace(d))
	}
	if !c.acmeEnabled() {
		if c.ACMEEmail != "" || c.ACMECARootsFile != "" {
			errs = append(errs, errors.New("RECEIVER_ACME_EMAIL and RECEIVER_ACME_CA_ROOTS_FILE need RECEIVER_ACME_DOMAINS: set the domains to obtain certificates for, or unset them"))
		}
		return errs
	}
	if c.TLSCertFile != "" || c.TLSKeyFile != "" {
		errs = append(errs, errors.New("RECEIVER_ACME_DOMAINS and RECEIVER_TLS_CERT_FILE/RECEIVER_TLS_KEY_FILE are mutually exclusive: the receiver either obtains its certificate by ACME or serves the files; unset one"))
	}
	for _, d := range c.ACMEDomains {
		if !dnsName.MatchString(d) || !certmagic.SubjectQualifiesForPublicCert(d) || certmagic.SubjectIsIP(d) {
			errs = append(errs, fmt.Errorf("RECEIVER_ACME_DOMAINS: %q cannot get a certificate by HTTP-01 or TLS-ALPN-01: give DNS names such as hooks.lab.example, comma-separated (no IP addresses, wildcards, ports, localhost or .local/.internal names)", d))
		}
	}
	if c.ACMEEmail != "" && (!strings.Contains(c.ACMEEmail, "@") || strings.ContainsAny(c.ACMEEmail, " ,")) {
		errs = append(errs, errors.New("RECEIVER_ACME_EMAIL must be one email address"))
	}
	if u, err := url.Parse(c.ACMEDirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, errors.New("RECEIVER_ACME_DIRECTORY_URL must be the https:// URL of an ACME directory (Let's Encrypt's production one by default)"))
	}
	if a := c.acmeHTTPAddr(); a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, errors.New("RECEIVER_ACME_HTTP_ADDR must be host:port (default :80), or empty or \"off\" to switch the HTTP-01 listener off"))
		}
	}
	return errs
}

// acmeTLS serves the public listener's certificates from an ACME CA.
type acmeTLS struct {
	magic   *certmagic.Config
	cache   *certmagic.Cache
	domains []string
	http    *http.Server // the HTTP-01 listener's server, nil when off
	httpLn  net.Listener
	log     zerolog.Logger
}

// setupACME prepares certificate management for cfg.ACMEDomains: the
// storage (shared through PostgreSQL, or files beside the SQLite database),
// the ACME issuer, the metrics and, unless switched off, the bound HTTP-01
// listener. Nothing is ordered until run.
func setupACME(cfg Config, st store.Store, reg prometheus.Registerer, log zerolog.Logger) (*acmeTLS, error) {
	log = log.With().Str("component", "acme").Logger()
	storage, where, err := acmeStorage(cfg.Store, st)
	if err != nil {
		return nil, err
	}
	roots, err := acmeRoots(cfg.ACMECARootsFile)
	if err != nil {
		return nil, err
	}
	failures := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "receiver_acme_failures_total",
		Help: "Failed attempts to obtain or renew a certificate from the ACME CA (each is retried; the log says why).",
	})
	if err := reg.Register(failures); err != nil {
		return nil, err
	}

	a := &acmeTLS{domains: cfg.ACMEDomains, log: log}
	zl := zapLogger(log)
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return a.magic, nil },
		RenewCheckInterval: cfg.acmeRenewCheck,
		Logger:             zl,
	})
	a.magic = certmagic.New(a.cache, certmagic.Config{
		Storage: storage,
		Logger:  zl,
		OnEvent: func(_ context.Context, event string, data map[string]any) error {
			a.onEvent(event, data, failures)
			return nil
		},
	})

	pubHost, pubPort, err := listenHostPort(cfg.ListenAddr)
	if err != nil {
		a.cache.Stop()
		return nil, fmt.Errorf("RECEIVER_LISTEN_ADDR: %w", err)
	}
	issuer := certmagic.ACMEIssuer{
		CA:           cfg.ACMEDirectoryURL,
		Email:        cfg.ACMEEmail,
		Agreed:       true,
		TrustedRoots: roots,
		// certmagic's solvers try to bind these addresses and, finding
		// them taken, leave the answers to our own listeners (the public
		// one answers TLS-ALPN-01 through magic.GetCertificate).
		ListenHost:           pubHost,
		AltTLSALPNPort:       pubPort,
		DisableHTTPChallenge: cfg.acmeHTTPAddr() == "",
		Logger:               zl,
	}
	if addr := cfg.acmeHTTPAddr(); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			a.cache.Stop()
			return nil, fmt.Errorf("RECEIVER_ACME_HTTP_ADDR (the HTTP-01 listener; empty or \"off\" switches it off): %w", err)
		}
		issuer.AltHTTPPort = ln.Addr().(*net.TCPAddr).Port
		a.httpLn = ln
	}
	acmeIssuer := certmagic.NewACMEIssuer(a.magic, issuer)
	a.magic.Issuers = []certmagic.Issuer{acmeIssuer}
	if a.httpLn != nil {
		a.http = newHTTPServer(acmeIssuer.HTTPChallengeHandler(redirectToHTTPS(a.domains)), log)
	}

	if err := reg.Register(expiryCollector{a}); err != nil {
		a.cache.Stop()
		if a.httpLn != nil {
			a.httpLn.Close()
		}
		return nil, err
	}
	log.Info().Strs("domains", a.domains).Str("directory", cfg.ACMEDirectoryURL).Str("storage", where).
		Str("http_01", listenerAddr(a.httpLn)).Msg("certificates by ACME")
	return a, nil
}

// tlsConfig is the public listener's TLS configuration: the managed
// certificates, and the TLS-ALPN-01 challenge answered on the same port.
func (a *acmeTLS) tlsConfig() *tls.Config {
	c := a.magic.TLSConfig()
	c.MinVersion = tls.VersionTLS12
	c.NextProtos = []string{"http/1.1", acmez.ACMETLS1Protocol}
	return c
}

// run obtains the certificates the storage does not hold yet (one replica
// orders, under the domain's lock; the others load its result), renews
// them in the background well before they expire (when a third of their
// lifetime is left, or in the window the CA's renewal information
// suggests), and serves the HTTP-01 listener, until ctx ends.
func (a *acmeTLS) run(ctx context.Context) {
	defer a.cache.Stop()
	if a.http != nil {
		go func() {
			if err := serveListener(a.http, a.httpLn); err != nil {
				a.log.Error().Err(err).Msg("the HTTP-01 listener (RECEIVER_ACME_HTTP_ADDR) stopped")
			}
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = a.http.Shutdown(sctx)
		}()
	}
	// Errors here are configuration errors found before any ACME request;
	// failures to obtain are retried with back-off and reported by onEvent.
	if err := a.magic.ManageAsync(ctx, a.domains); err != nil {
		a.log.Error().Err(err).Msg("managing the certificates failed; the public listener has none to serve")
	}
	<-ctx.Done()
}

// onEvent logs and counts what certmagic reports about a certificate.
func (a *acmeTLS) onEvent(event string, data map[string]any, failures prometheus.Counter) {
	domain, _ := data["identifier"].(string)
	renewal, _ := data["renewal"].(bool)
	switch event {
	case "cert_failed":
		failures.Inc()
		err, _ := data["error"].(error)
		if renewal {
			a.log.Error().Err(err).Str("domain", domain).Msg("renewing the certificate failed; the current one is still served and the renewal is retried")
		} else {
			a.log.Error().Err(err).Str("domain", domain).Msg("obtaining a certificate failed; retrying (TLS handshakes for this domain fail until one is obtained)")
		}
	case "cert_obtained":
		if renewal {
			a.log.Info().Str("domain", domain).Msg("certificate renewed")
		} else {
			a.log.Info().Str("domain", domain).Msg("certificate obtained")
		}
	}
}

// expiryCollector reports when each domain's served certificate expires.
type expiryCollector struct{ a *acmeTLS }

var expiryDesc = prometheus.NewDesc("receiver_tls_certificate_expiry_timestamp_seconds",
	"When the certificate the public listener serves for the domain expires (Unix time); 0 while it has none.",
	[]string{"domain"}, nil)

func (c expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- expiryDesc }

func (c expiryCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range c.a.domains {
		var notAfter time.Time
		for _, cert := range c.a.cache.AllMatchingCertificates(d) {
			if cert.Leaf != nil && cert.Leaf.NotAfter.After(notAfter) {
				notAfter = cert.Leaf.NotAfter
			}
		}
		v := 0.0
		if !notAfter.IsZero() {
			v = float64(notAfter.Unix())
		}
		ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, v, d)
	}
}

// redirectToHTTPS answers what the HTTP-01 listener gets besides challenges:
// the same URL on https (port 443), on a configured domain.
func redirectToHTTPS(domains []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host = strings.ToLower(host); !slices.Contains(domains, host) {
			host = domains[0]
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// acmeRoots reads the CA roots RECEIVER_ACME_CA_ROOTS_FILE names (nil:
// the system's).
func acmeRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	roots, err := capool.Load(path)
	if err != nil {
		return nil, fmt.Errorf("RECEIVER_ACME_CA_ROOTS_FILE: %w", err)
	}
	return roots, nil
}

// acmeStorage is where the ACME account and certificates live: the
// PostgreSQL store's table, which replicas share, or a directory beside
// the SQLite database ("acme"). It also returns that place for the log.
func acmeStorage(dsn string, st store.Store) (certmagic.Storage, string, error) {
	if db, ok := st.(*postgres.DB); ok {
		return db.CertStorage(), "postgres", nil
	}
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		dir := filepath.Join(filepath.Dir(path), "acme")
		return &certmagic.FileStorage{Path: dir}, dir, nil
	}
	return nil, "", errors.New("RECEIVER_ACME_DOMAINS: the store keeps no ACME state (want sqlite:PATH or postgres://)")
}

// listenHostPort splits a listen address into its host and numeric port.
func listenHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		if p, err = net.LookupPort("tcp", port); err != nil {
			return "", 0, err
		}
	}
	return host, p, nil
}

// listenerAddr is ln's address, or "off".
func listenerAddr(ln net.Listener) string {
	if ln == nil {
		return acmeHTTPOff
	}
	return ln.Addr().String()
}
