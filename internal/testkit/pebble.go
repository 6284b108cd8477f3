package testkit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/testkit/testcert"
)

// PebbleVersion is the version of Let's Encrypt's test ACME server that
// StartPebble builds (with the Go toolchain, from the module proxy).
const PebbleVersion = "v2.10.3"

// PebbleOptions configures one Pebble.
type PebbleOptions struct {
	// HTTPPort and TLSPort are where Pebble validates HTTP-01 and
	// TLS-ALPN-01 challenges, on 127.0.0.1 (every name resolves there).
	HTTPPort, TLSPort int
	// Validity is how long the certificates it issues are valid
	// (90 days when zero).
	Validity time.Duration
}

// Pebble is a running Pebble ACME server with its pebble-challtestsrv,
// whose DNS answers every name with 127.0.0.1.
type Pebble struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// CAFile holds the PEM root that Pebble's own HTTPS listener chains
	// to (what a client of DirectoryURL must trust).
	CAFile string

	mgmt   string
	caPool *x509.CertPool
	stdout *SyncBuffer
	cmds   []*exec.Cmd
	once   sync.Once
}

var (
	pebbleOnce sync.Once
	pebbleDir  string
	pebbleErr  error
)

// pebbleBinaries builds pebble and pebble-challtestsrv once into the user's
// cache directory and returns that directory.
func pebbleBinaries() (string, error) {
	pebbleOnce.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "prolific-receiver", "pebble-"+PebbleVersion)
		if fileExists(filepath.Join(dir, "pebble")) && fileExists(filepath.Join(dir, "pebble-challtestsrv")) {
			pebbleDir = dir
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			pebbleErr = err
			return
		}
		// Build into a directory of our own and rename, so concurrent
		// test processes never see half-written binaries.
		tmp, err := os.MkdirTemp(dir, "build-")
		if err != nil {
			pebbleErr = err
			return
		}
		defer os.RemoveAll(tmp)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "install",
			"github.com/letsencrypt/pebble/v2/cmd/pebble@"+PebbleVersion,
			"github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@"+PebbleVersion)
		cmd.Dir = tmp // outside any module: go install pkg@version
		cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			pebbleErr = fmt.Errorf("go install pebble@%s: %v\n%s", PebbleVersion, err, out)
			return
		}
		for _, name := range []string{"pebble", "pebble-challtestsrv"} {
			if err := os.Rename(filepath.Join(tmp, name), filepath.Join(dir, name)); err != nil {
				pebbleErr = err
				return
			}
		}
		pebbleDir = dir
	})
	return pebbleDir, pebbleErr
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// StartPebble builds (once) and starts Pebble and pebble-challtestsrv on
// free loopback ports, and stops them when t ends. When they cannot be
// built (no Go module proxy) the test is skipped with the reason, except
// under CI=true, where it fails: CI must run the ACME tests.
func StartPebble(t testing.TB, o PebbleOptions) *Pebble {
	t.Helper()
	dir, err := pebbleBinaries()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("building Pebble (needed by the ACME tests, which CI must run): %v", err)
		}
		t.Skipf("ACME tests skipped: Pebble could not be built (they run wherever the Go module proxy is reachable): %v", err)
	}
	work := t.TempDir()
	caPEM, certFile, keyFile := loopbackCA(t, work)
	p := &Pebble{CAFile: filepath.Join(work, "pebble-ca.pem"), stdout: new(SyncBuffer), caPool: x509.NewCertPool()}
	p.caPool.AppendCertsFromPEM(caPEM)
	t.Cleanup(p.Stop) // whatever was started, even when a later step fails
	if err := os.WriteFile(p.CAFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	dnsAddr, challMgmt := FreeAddr(t), FreeAddr(t)
	p.start(t, filepath.Join(dir, "pebble-challtestsrv"), nil,
		"-dnsserver", dnsAddr, "-management", challMgmt, "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	waitListening(t, challMgmt)

	listen := FreeAddr(t)
	p.mgmt = FreeAddr(t)
	validity := o.Validity
	if validity == 0 {
		validity = 90 * 24 * time.Hour
	}
	var conf struct {
		Pebble map[string]any `json:"pebble"`
	}
	conf.Pebble = map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": p.mgmt,
		"certificate":             certFile,
		"privateKey":              keyFile,
		"httpPort":                o.HTTPPort,
		"tlsPort":                 o.TLSPort,
		"keyAlgorithm":            "ecdsa",
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
		"profiles": map[string]any{
			"default": map[string]any{"description": "test", "validityPeriod": int(validity / time.Second)},
		},
	}
	b, _ := json.Marshal(conf)
	confFile := filepath.Join(work, "pebble.json")
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p.start(t, filepath.Join(dir, "pebble"), []string{
		"PEBBLE_VA_NOSLEEP=1",      // validate at once
		"PEBBLE_WFE_NONCEREJECT=0", // no deliberately rejected nonces
		"PEBBLE_AUTHZREUSE=0",      // every order proves its challenge
	}, "-config", confFile, "-dnsserver", dnsAddr)
	waitListening(t, listen)
	waitListening(t, p.mgmt)
	p.DirectoryURL = "https://" + listen + "/dir"
	return p
}

func (p *Pebble) start(t testing.TB, bin string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = p.stdout, p.stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", filepath.Base(bin), err)
	}
	p.cmds = append(p.cmds, cmd)
}

// Stop ends Pebble and its challenge server (a CA that is down).
func (p *Pebble) Stop() {
	p.once.Do(func() {
		for _, c := range p.cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	})
}

// Issued counts the certificates Pebble has issued.
func (p *Pebble) Issued() int {
	return strings.Count(p.stdout.String(), "Issued certificate serial")
}

// Orders counts the orders Pebble has received.
func (p *Pebble) Orders() int {
	return strings.Count(p.stdout.String(), "orders in the db")
}

// Accounts counts the ACME accounts registered with Pebble.
func (p *Pebble) Accounts() int {
	return strings.Count(p.stdout.String(), "accounts in memory")
}

// Log is what Pebble and its challenge server printed.
func (p *Pebble) Log() string { return p.stdout.String() }

// Roots returns the roots Pebble's issued certificates chain to.
func (p *Pebble) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.caPool}}}
	resp, err := c.Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatalf("pebble roots: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if resp.StatusCode != http.StatusOK || !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble roots: %s %q", resp.Status, b)
	}
	return pool
}

// waitListening waits until addr accepts TCP connections.
func waitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after 20s", addr)
}

// Port is the numeric port of a host:port address.
func Port(t testing.TB, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// loopbackCA writes a fresh CA and a certificate it signed for 127.0.0.1
// and localhost into dir; it returns the CA's PEM and the files.
func loopbackCA(t testing.TB, dir string) (caPEM []byte, certFile, keyFile string) {
	t.Helper()
	ca, err := testcert.New(testcert.Options{CommonName: "test ACME directory CA", CA: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := testcert.New(testcert.Options{CommonName: "localhost", Parent: ca})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "pebble.crt"), filepath.Join(dir, "pebble.key")
	if err := leaf.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	return ca.CertPEM(), certFile, keyFile
}
