package notifytest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/prolific-receiver/receiver/internal/testkit/testcert"
)

// SMTP security modes of an SMTPServer (the same words notify uses).
const (
	SMTPStartTLS = "starttls"
	SMTPTLS      = "tls"
	SMTPNone     = "none"
)

// SMTPOptions configures an SMTPServer.
type SMTPOptions struct {
	// Addr to listen on; default "127.0.0.1:0".
	Addr string
	// Security is SMTPStartTLS (default), SMTPTLS (TLS from the first byte)
	// or SMTPNone (no TLS offered at all).
	Security string
	// Username and Password, when Username is set, make AUTH PLAIN required
	// before MAIL. AUTH is only offered over TLS.
	Username, Password string
	// Out, when set, receives each accepted message formatted by Format.
	Out io.Writer
	// Cert is the certificate the server presents, e.g. one a private CA
	// signed (testcert.Options.Parent); nil makes a self-signed one for
	// 127.0.0.1, ::1 and localhost.
	Cert *testcert.Cert
}

// SMTPServer is a loopback mail server. Its certificate is self-signed for
// 127.0.0.1, ::1 and localhost unless SMTPOptions.Cert gives one; CertPool
// returns a pool that trusts it.
type SMTPServer struct {
	opts SMTPOptions
	srv  *smtp.Server
	ln   net.Listener
	pool *x509.CertPool
	done chan struct{}

	mu       sync.Mutex
	msgs     []Received
	failRcpt []smtpFailure
	authFail int
	notify   chan struct{}
}

type smtpFailure struct {
	code int
	n    int
}

// NewSMTPServer starts a server; Close stops it.
func NewSMTPServer(opts SMTPOptions) (*SMTPServer, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Security == "" {
		opts.Security = SMTPStartTLS
	}
	s := &SMTPServer{opts: opts, done: make(chan struct{}), notify: make(chan struct{})}
	cert := opts.Cert
	if cert == nil {
		var err error
		if cert, err = testcert.New(testcert.Options{CommonName: "notifytest SMTP", CA: true}); err != nil {
			return nil, err
		}
	}
	s.pool = cert.Pool()
	s.srv = smtp.NewServer(smtp.BackendFunc(s.newSession))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.MaxMessageBytes = 1 << 20
	s.srv.MaxRecipients = 50
	s.srv.ErrorLog = discardLogger{}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert.TLS()}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp listen: %w", err)
	}
	switch opts.Security {
	case SMTPStartTLS:
		s.srv.TLSConfig = tlsConf
	case SMTPTLS:
		s.srv.TLSConfig = tlsConf
		ln = tls.NewListener(ln, tlsConf)
	case SMTPNone:
	default:
		ln.Close()
		return nil, fmt.Errorf("smtp security %q: want starttls, tls or none", opts.Security)
	}
	s.ln = ln
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Addr is the host:port the server listens on.
func (s *SMTPServer) Addr() string { return s.ln.Addr().String() }

// Host and Port split Addr.
func (s *SMTPServer) Host() string { h, _, _ := net.SplitHostPort(s.Addr()); return h }

// Port is the listening port.
func (s *SMTPServer) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// CertPool trusts the server's self-signed certificate.
func (s *SMTPServer) CertPool() *x509.CertPool { return s.pool }

// Close stops the server.
func (s *SMTPServer) Close() {
	_ = s.srv.Close()
	<-s.done
}

// Messages returns a copy of the accepted messages, oldest first.
func (s *SMTPServer) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Wait blocks until at least n messages were accepted or timeout passes.
func (s *SMTPServer) Wait(n int, timeout time.Duration) []Received {
	return waitFor(n, timeout, s.state, s.Messages)
}

// state is how many messages were accepted, and the channel closed at the next.
func (s *SMTPServer) state() (int, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs), s.notify
}

// FailRcpt makes the next n RCPT commands answer code (e.g. 451 for a
// temporary, 550 for a permanent failure).
func (s *SMTPServer) FailRcpt(code, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failRcpt = append(s.failRcpt, smtpFailure{code: code, n: n})
}

// AuthFailures counts refused AUTH attempts.
func (s *SMTPServer) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFail
}

func (s *SMTPServer) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: s, conn: c}, nil
}

type session struct {
	srv  *SMTPServer
	conn *smtp.Conn
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.srv.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.srv.opts.Username || password != ss.srv.opts.Password || (identity != "" && identity != username) {
			ss.srv.mu.Lock()
			ss.srv.authFail++
			ss.srv.mu.Unlock()
			return smtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.srv.opts.Username != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s := ss.srv
	s.mu.Lock()
	if len(s.failRcpt) > 0 {
		f := s.failRcpt[0]
		if s.failRcpt[0].n--; s.failRcpt[0].n <= 0 {
			s.failRcpt = s.failRcpt[1:]
		}
		s.mu.Unlock()
		return &smtp.SMTPError{Code: f.code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: fmt.Sprintf("injected failure %d", f.code)}
	}
	s.mu.Unlock()
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	m := Received{Channel: "smtp", Raw: string(raw), From: ss.from, To: append([]string(nil), ss.to...),
		User: ss.user, TLS: isTLS, At: time.Now().UTC()}
	if msg, err := netmail.ReadMessage(strings.NewReader(string(raw))); err == nil {
		dec := new(mimeDecoder)
		m.Subject = dec.header(msg.Header.Get("Subject"))
		body, _ := io.ReadAll(msg.Body)
		m.Text = dec.body(msg.Header.Get("Content-Transfer-Encoding"), body)
	}
	s := ss.srv
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	close(s.notify)
	s.notify = make(chan struct{})
	if s.opts.Out != nil {
		fmt.Fprint(s.opts.Out, Format(m))
	}
	s.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}
