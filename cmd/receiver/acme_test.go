package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

// The ACME tests run the receiver against Pebble, Let's Encrypt's test CA
// (internal/testkit builds it with the Go toolchain), whose DNS answers
// every name with 127.0.0.1. Pebble validates challenges on fixed ports:
// each test points the one challenge it tests at the receiver's listener
// and the other at a closed port, so a certificate proves that challenge.
// They do not run in parallel: certmagic keeps challenge state per process.

// acmeDomain returns a domain of its own for each test: certmagic's
// background jobs are per process and per name, so a job of an earlier
// test (a renewal retrying against a stopped CA) would hold up the next.
func acmeDomain(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("hooks-%d.lab.example", acmeDomains.Add(1))
}

var acmeDomains atomic.Int64

// acmeConfig is a receiver on store with its certificates for domain from pb.
func acmeConfig(t *testing.T, store, pub, httpAddr, domain string, pb *testkit.Pebble) Config {
	t.Helper()
	return testConfig(t, store, func(c *Config) {
		c.ListenAddr, c.AdminAddr, c.WebhookSecret = pub, freeAddr(t), "acme-test-secret"
		c.ACMEDomains, c.ACMEEmail, c.ACMEDirectoryURL = []string{domain}, "lab@example.org", pb.DirectoryURL
		c.ACMECARootsFile, c.ACMEHTTPAddr = pb.CAFile, httpAddr
	})
}

// acmeReceiver is one running receiver.
type acmeReceiver struct {
	cfg    Config
	logs   *testkit.SyncBuffer
	errc   chan error
	cancel context.CancelFunc
}

func startACMEReceiver(t *testing.T, cfg Config) *acmeReceiver {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &acmeReceiver{cfg: cfg, logs: new(testkit.SyncBuffer), errc: make(chan error, 1), cancel: cancel}
	log := zerolog.New(r.logs).Level(zerolog.InfoLevel)
	// waitReady reads an early exit from a channel of its own, so that
	// stop, in the cleanup, still finds serve's result instead of waiting
	// 20 s for an exit that has already happened.
	exited := make(chan error, 1)
	go func() {
		err := serve(ctx, cfg, log, nil)
		exited <- err
		r.errc <- err
	}()
	t.Cleanup(func() { r.stop(t) })
	waitReady(t, r.adminURL(), exited)
	return r
}

func (r *acmeReceiver) adminURL() string { return "http://" + r.cfg.AdminAddr }

func (r *acmeReceiver) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	waitStopped(t, r.errc, "receiver", 20*time.Second)
	if t.Failed() {
		t.Logf("receiver log:\n%s", tail(r.logs.String(), 6000))
	}
}

// tlsTo is a TLS client configuration for the receiver at the domain,
// trusting only roots (Pebble's).
func tlsTo(domain string, roots *x509.CertPool) *tls.Config {
	return &tls.Config{ServerName: domain, RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// waitCertificate waits until addr presents a certificate for the domain
// that chains to roots, and returns it.
func waitCertificate(t *testing.T, addr, domain string, roots *x509.CertPool, within time.Duration) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		var conn *tls.Conn
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, tlsTo(domain, roots))
		if err == nil {
			leaf := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			return leaf
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s presented no valid certificate for %s within %s: %v", addr, domain, within, err)
	return nil
}

// postSignedOverHTTPS posts a signed webhook to https://domain/hooks/prolific
// at addr (the domain as SNI, verified against roots) and wants 200.
func postSignedOverHTTPS(t *testing.T, addr, domain string, roots *x509.CertPool) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: tlsTo(domain, roots),
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	defer client.CloseIdleConnections()
	o := sendOptions{url: "https://" + domain + "/hooks/prolific", secret: "acme-test-secret",
		eventType: prolific.EventSubmissionStatusChange, timeout: 10 * time.Second}
	code, body, err := send(context.Background(), client, &o)
	if err != nil || code != http.StatusOK {
		t.Fatalf("signed webhook over HTTPS to %s: %d %s %v, want 200", addr, code, body, err)
	}
}

// waitWithin polls cond every 200 ms for up to within.
func waitWithin(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, what, within, 200*time.Millisecond, cond)
}

// TestACMEHTTP01OnSQLite: the certificate comes by HTTP-01 on the HTTP
// listener (Pebble's TLS-ALPN-01 port is closed), is kept beside the SQLite
// database, serves a signed webhook, and a restart serves it again without
// ordering another. The HTTP listener redirects everything else to https.
func TestACMEHTTP01OnSQLite(t *testing.T) {
	domain := acmeDomain(t)
	pub, httpAddr := freeAddr(t), freeAddr(t)
	pb := testkit.StartPebble(t, testkit.PebbleOptions{HTTPPort: testkit.Port(t, httpAddr), TLSPort: testkit.Port(t, freeAddr(t))})
	dataDir := t.TempDir()
	cfg := acmeConfig(t, "sqlite:"+filepath.Join(dataDir, "receiver.db"), pub, httpAddr, domain, pb)
	r := startACMEReceiver(t, cfg)
	roots := pb.Roots(t)

	first := waitCertificate(t, pub, domain, roots, 60*time.Second)
	postSignedOverHTTPS(t, pub, domain, roots)
	// Orders may be two: when the CA tried TLS-ALPN-01 first (closed here),
	// the next order used HTTP-01.
	issued, orders := pb.Issued(), pb.Orders()
	if issued != 1 {
		t.Errorf("Pebble issued %d certificates, want 1", issued)
	}
	if files, _ := filepath.Glob(filepath.Join(dataDir, "acme", "certificates", "*", domain, domain+".crt")); len(files) != 1 {
		t.Errorf("certificate files beside the database: %q, want one", files)
	}
	expiry, _ := testkit.Sample(scrape(t, r.adminURL())["receiver_tls_certificate_expiry_timestamp_seconds"], map[string]string{"domain": domain})
	if want := float64(first.NotAfter.Unix()); expiry != want {
		t.Errorf("receiver_tls_certificate_expiry_timestamp_seconds = %v, want %v", expiry, want)
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/hooks/prolific?x=1", nil)
	req.Host = domain
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusPermanentRedirect || loc != "https://"+domain+"/hooks/prolific?x=1" {
		t.Errorf("plain HTTP answered %d to %q, want 308 to https://%s/hooks/prolific?x=1", resp.StatusCode, loc, domain)
	}

	r.stop(t)
	startACMEReceiver(t, cfg)
	again := waitCertificate(t, pub, domain, roots, 30*time.Second)
	if again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("after a restart the receiver serves serial %v, want the stored %v", again.SerialNumber, first.SerialNumber)
	}
	if n, o := pb.Issued(), pb.Orders(); n != issued || o != orders {
		t.Errorf("after a restart Pebble has issued %d certificates on %d orders, want still %d on %d", n, o, issued, orders)
	}
}

// TestACMETLSALPNWithoutHTTPListener: with RECEIVER_ACME_HTTP_ADDR empty
// there is no HTTP listener and the certificate comes by TLS-ALPN-01 on the
// public listener (Pebble's HTTP-01 port is closed).
func TestACMETLSALPNWithoutHTTPListener(t *testing.T) {
	domain := acmeDomain(t)
	pub := freeAddr(t)
	pb := testkit.StartPebble(t, testkit.PebbleOptions{HTTPPort: testkit.Port(t, freeAddr(t)), TLSPort: testkit.Port(t, pub)})
	r := startACMEReceiver(t, acmeConfig(t, "sqlite:"+filepath.Join(t.TempDir(), "receiver.db"), pub, "", domain, pb))
	roots := pb.Roots(t)
	waitCertificate(t, pub, domain, roots, 60*time.Second)
	postSignedOverHTTPS(t, pub, domain, roots)
	if !strings.Contains(r.logs.String(), `"http_01":"off"`) {
		t.Errorf("the start-up log does not say the HTTP-01 listener is off:\n%s", tail(r.logs.String(), 3000))
	}
}

// TestACMERenewal: certificates valid for 30 s are renewed before they
// expire, without a restart, and the new one is served; with the CA down,
// a renewal fails, is logged and counted, and the current certificate
// stays served.
func TestACMERenewal(t *testing.T) {
	domain := acmeDomain(t)
	pub := freeAddr(t)
	pb := testkit.StartPebble(t, testkit.PebbleOptions{HTTPPort: testkit.Port(t, freeAddr(t)), TLSPort: testkit.Port(t, pub), Validity: 30 * time.Second})
	cfg := acmeConfig(t, "sqlite:"+filepath.Join(t.TempDir(), "receiver.db"), pub, "", domain, pb)
	cfg.acmeRenewCheck = time.Second
	r := startACMEReceiver(t, cfg)
	roots := pb.Roots(t)

	first := waitCertificate(t, pub, domain, roots, 60*time.Second)
	var renewed *x509.Certificate
	waitWithin(t, "a renewed certificate served", 45*time.Second, func() bool {
		c := waitCertificate(t, pub, domain, roots, 10*time.Second)
		if c.SerialNumber.Cmp(first.SerialNumber) != 0 {
			renewed = c
			return true
		}
		return false
	})
	if !renewed.NotAfter.After(first.NotAfter) {
		t.Errorf("renewed certificate expires %v, not after the first's %v", renewed.NotAfter, first.NotAfter)
	}
	if !strings.Contains(r.logs.String(), "certificate renewed") {
		t.Error(`no "certificate renewed" log line`)
	}
	postSignedOverHTTPS(t, pub, domain, roots)

	pb.Stop()
	waitWithin(t, "a failed renewal counted", 45*time.Second, func() bool {
		return metricSum(t, r.adminURL(), "receiver_acme_failures_total") >= 1
	})
	if !strings.Contains(r.logs.String(), "renewing the certificate failed") {
		t.Errorf("the failed renewal is not logged:\n%s", tail(r.logs.String(), 3000))
	}
	// Not verified: the 30 s certificate may just have expired.
	conn, err := tls.Dial("tcp", pub, &tls.Config{ServerName: domain, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("no certificate served while the CA is down: %v", err)
	}
	defer conn.Close()
	if c := conn.ConnectionState().PeerCertificates[0]; c.NotAfter.Before(renewed.NotAfter) {
		t.Errorf("while the CA is down the receiver serves a certificate expiring %v, before the renewed one (%v)", c.NotAfter, renewed.NotAfter)
	}
}

// TestACMEReplicasShareOneCertificate: two replicas on one PostgreSQL
// database start together; one account is registered and one certificate
// ordered (the other replica waits on the lock and loads it), both serve
// it, and restarting both orders nothing.
func TestACMEReplicasShareOneCertificate(t *testing.T) {
	domain := acmeDomain(t)
	dsn := pgtest.DSN(t)
	pubA, pubB, httpA, httpB := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	// Pebble validates at replica A's listeners; whichever replica orders,
	// the challenge answer is in the shared storage.
	pb := testkit.StartPebble(t, testkit.PebbleOptions{HTTPPort: testkit.Port(t, httpA), TLSPort: testkit.Port(t, pubA)})
	cfgA, cfgB := acmeConfig(t, dsn, pubA, httpA, domain, pb), acmeConfig(t, dsn, pubB, httpB, domain, pb)
	roots := pb.Roots(t)

	start := func() (a, b *acmeReceiver) {
		// B starts on a goroutine of its own, where a failed start ends
		// that goroutine (Goexit): the deferred send still answers, and
		// the channel's room lets it when A's failure ended the test first.
		done := make(chan *acmeReceiver, 1)
		go func() {
			var r *acmeReceiver
			defer func() { done <- r }()
			r = startACMEReceiver(t, cfgB)
		}()
		a = startACMEReceiver(t, cfgA)
		if b = <-done; b == nil {
			t.FailNow() // B's start failed and said why
		}
		return a, b
	}
	a, b := start()
	certA := waitCertificate(t, pubA, domain, roots, 60*time.Second)
	certB := waitCertificate(t, pubB, domain, roots, 60*time.Second)
	if certA.SerialNumber.Cmp(certB.SerialNumber) != 0 {
		t.Errorf("replicas serve serials %v and %v, want one certificate", certA.SerialNumber, certB.SerialNumber)
	}
	if n, o, acc := pb.Issued(), pb.Orders(), pb.Accounts(); n != 1 || o != 1 || acc != 1 {
		t.Errorf("Pebble saw %d accounts, %d orders, %d certificates; want one of each", acc, o, n)
	}
	postSignedOverHTTPS(t, pubA, domain, roots)
	postSignedOverHTTPS(t, pubB, domain, roots)

	a.stop(t)
	b.stop(t)
	start()
	for _, pub := range []string{pubA, pubB} {
		if c := waitCertificate(t, pub, domain, roots, 30*time.Second); c.SerialNumber.Cmp(certA.SerialNumber) != 0 {
			t.Errorf("after a restart %s serves serial %v, want the stored %v", pub, c.SerialNumber, certA.SerialNumber)
		}
	}
	if n, o, acc := pb.Issued(), pb.Orders(), pb.Accounts(); n != 1 || o != 1 || acc != 1 {
		t.Errorf("after a restart Pebble saw %d accounts, %d orders, %d certificates; want one of each", acc, o, n)
	}
}

// TestACMEConfiguration: the start-up errors.
func TestACMEConfiguration(t *testing.T) {
	base := func() Config {
		return Config{
			Store: "sqlite:x.db", WebhookSecret: "s", APIURL: "https://api.prolific.com",
			TimestampTolerance: time.Hour, MaxBodyBytes: 1 << 20, LogFormat: "json", APIRateLimit: 1,
			ACMEDomains: []string{"hooks.lab.example"}, ACMEDirectoryURL: "https://acme.example/directory", ACMEHTTPAddr: ":80",
		}
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // in the error; "" for none
	}{
		{"valid", func(*Config) {}, ""},
		{"http listener off by empty value", func(c *Config) { c.ACMEHTTPAddr = "" }, ""},
		{"http listener off by off", func(c *Config) { c.ACMEHTTPAddr = "off" }, ""},
		{"several domains, spaces and case", func(c *Config) { c.ACMEDomains = []string{"Hooks.Lab.Example", " b.lab.example"} }, ""},
		{"with certificate files", func(c *Config) { c.TLSCertFile, c.TLSKeyFile = "c.pem", "k.pem" }, "mutually exclusive"},
		{"wildcard", func(c *Config) { c.ACMEDomains = []string{"*.lab.example"} }, `"*.lab.example" cannot get a certificate`},
		{"ip address", func(c *Config) { c.ACMEDomains = []string{"192.0.2.1"} }, "cannot get a certificate"},
		{"url", func(c *Config) { c.ACMEDomains = []string{"https://hooks.lab.example"} }, "cannot get a certificate"},
		{"localhost", func(c *Config) { c.ACMEDomains = []string{"localhost"} }, "cannot get a certificate"},
		{"plain http directory", func(c *Config) { c.ACMEDirectoryURL = "http://acme.example/dir" }, "RECEIVER_ACME_DIRECTORY_URL"},
		{"bad http address", func(c *Config) { c.ACMEHTTPAddr = "80" }, "RECEIVER_ACME_HTTP_ADDR"},
		{"bad email", func(c *Config) { c.ACMEEmail = "not an address" }, "RECEIVER_ACME_EMAIL"},
		{"email without domains", func(c *Config) { c.ACMEDomains, c.ACMEEmail = nil, "lab@example.org" }, "need RECEIVER_ACME_DOMAINS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.change(&c)
			err := c.validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}

	// Through the environment, as an operator meets it.
	t.Setenv("PROLIFIC_WEBHOOK_SECRET", "s")
	t.Setenv("RECEIVER_ACME_DOMAINS", "hooks.lab.example")
	t.Setenv("RECEIVER_TLS_CERT_FILE", "c.pem")
	t.Setenv("RECEIVER_TLS_KEY_FILE", "k.pem")
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "mutually exclusive") {
		t.Errorf("loadConfig with ACME and certificate files = %v, want the mutually-exclusive error", err)
	}
	os.Unsetenv("RECEIVER_TLS_CERT_FILE")
	os.Unsetenv("RECEIVER_TLS_KEY_FILE")
	t.Setenv("RECEIVER_ACME_HTTP_ADDR", "")
	c, err := loadConfig()
	if err != nil || c.acmeHTTPAddr() != "" || c.ACMEDirectoryURL != "https://acme-v02.api.letsencrypt.org/directory" {
		t.Errorf("loadConfig = %q, %q, %v; want the HTTP listener off and Let's Encrypt's production directory", c.ACMEHTTPAddr, c.ACMEDirectoryURL, err)
	}
}

// TestACMEStartupErrors: a CA roots file without certificates and a taken
// HTTP-01 address stop the start with a message naming the variable.
func TestACMEStartupErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{
		ListenAddr: freeAddr(t), AdminAddr: freeAddr(t), Store: "sqlite:" + filepath.Join(dir, "r.db"), WebhookSecret: "s",
		APIURL: "https://api.prolific.com", TimestampTolerance: time.Hour, MaxBodyBytes: 1 << 20, LogFormat: "json",
		APIRateLimit: 1, ShutdownTimeout: time.Second,
		ACMEDomains: []string{"hooks.lab.example"}, ACMEDirectoryURL: "https://127.0.0.1:1/dir", ACMEHTTPAddr: "",
	}
	empty := filepath.Join(dir, "roots.pem")
	writeFile(t, empty, "no certificates here\n")
	cfg.ACMECARootsFile = empty
	if err := serve(context.Background(), cfg, zerolog.Nop(), nil); err == nil || !strings.Contains(err.Error(), "RECEIVER_ACME_CA_ROOTS_FILE") {
		t.Errorf("serve with an empty roots file = %v, want an error naming RECEIVER_ACME_CA_ROOTS_FILE", err)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg.ACMECARootsFile, cfg.ACMEHTTPAddr = "", taken.Addr().String()
	err = serve(context.Background(), cfg, zerolog.Nop(), nil)
	if err == nil || !strings.Contains(err.Error(), "RECEIVER_ACME_HTTP_ADDR") {
		t.Errorf("serve with the HTTP-01 address taken = %v, want an error naming RECEIVER_ACME_HTTP_ADDR", err)
	}
}
