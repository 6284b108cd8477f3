package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// SMTP security modes.
const (
	// SecurityStartTLS connects in plain text and upgrades with STARTTLS
	// before anything else; a server without STARTTLS is refused. The default.
	SecurityStartTLS = "starttls"
	// SecurityTLS speaks TLS from the first byte (SMTPS, usually port 465).
	SecurityTLS = "tls"
	// SecurityNone never encrypts: for a relay on the same host only. It
	// refuses a password, which would travel in clear.
	SecurityNone = "none"
)

// Default SMTP ports per security mode.
const (
	DefaultSMTPPort     = 587
	DefaultSMTPSTLSPort = 465
)

// SMTPConfig says how to reach the mail server and whom to write to.
type SMTPConfig struct {
	// Host is the server's name; also the name its certificate must carry.
	Host string
	// Port defaults to 587, or 465 with SecurityTLS.
	Port int
	// Security is SecurityStartTLS (default), SecurityTLS or SecurityNone.
	Security string
	// Username turns authentication on; Password is its secret.
	Username string
	Password string
	// Auth picks the SASL mechanism ("plain", "login", "cram-md5",
	// "scram-sha-1", "scram-sha-256", ...); empty chooses the strongest the
	// server offers.
	Auth string
	// From is the sender address, e.g. "Prolific receiver <receiver@lab.example>".
	From string
	// To lists the recipients (at least one).
	To []string
	// Timeout bounds one Send; DefaultTimeout when zero.
	Timeout time.Duration
	// TLSConfig overrides the TLS settings (e.g. RootCAs for a private CA);
	// nil uses the system roots. ServerName defaults to Host.
	TLSConfig *tls.Config
	// HELO is the name given in EHLO; empty lets the library choose.
	HELO string
}

// SMTP sends each Message as one plain-text e-mail to the configured
// recipients, over a new connection per Send.
type SMTP struct {
	cfg     SMTPConfig
	secrets []string
	opts    []mail.Option
}

// NewSMTP checks cfg and returns a sender. Errors never quote the password.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	cfg.Host = strings.TrimSpace(cfg.Host)
	if cfg.Host == "" {
		return nil, errors.New("smtp: host is empty")
	}
	cfg.Security = strings.ToLower(strings.TrimSpace(cfg.Security))
	if cfg.Security == "" {
		cfg.Security = SecurityStartTLS
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultSMTPPort
		if cfg.Security == SecurityTLS {
			cfg.Port = DefaultSMTPSTLSPort
		}
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("smtp: port %d out of range", cfg.Port)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if _, err := netmail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("smtp: from address %q: %w", cfg.From, err)
	}
	if len(cfg.To) == 0 {
		return nil, errors.New("smtp: no recipient")
	}
	for _, to := range cfg.To {
		if _, err := netmail.ParseAddress(to); err != nil {
			return nil, fmt.Errorf("smtp: recipient %q: %w", to, err)
		}
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tlsConf = cfg.TLSConfig.Clone()
	}
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = cfg.Host
	}
	opts := []mail.Option{
		mail.WithPort(cfg.Port),
		mail.WithTimeout(cfg.Timeout),
		mail.WithTLSConfig(tlsConf),
	}
	switch cfg.Security {
	case SecurityStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case SecurityTLS:
		opts = append(opts, mail.WithSSL())
	case SecurityNone:
		if cfg.Password != "" {
			return nil, errors.New("smtp: a password needs TLS (security starttls or tls), not none")
		}
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		return nil, fmt.Errorf("smtp: security %q: want starttls, tls or none", cfg.Security)
	}
	if cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(cfg.HELO))
	}
	if cfg.Username != "" {
		mech := mail.SMTPAuthAutoDiscover
		if cfg.Auth != "" {
			if err := mech.UnmarshalString(cfg.Auth); err != nil || mech == mail.SMTPAuthCustom || mech == mail.SMTPAuthNoAuth {
				return nil, fmt.Errorf("smtp: auth mechanism %q not supported", cfg.Auth)
			}
		}
		opts = append(opts, mail.WithSMTPAuth(mech), mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	} else if cfg.Password != "" {
		return nil, errors.New("smtp: password set without a username")
	}
	// Check the options once now, so that mistakes show at start-up.
	if _, err := mail.NewClient(cfg.Host, opts...); err != nil {
		return nil, fmt.Errorf("smtp: %s", redactAll(err.Error(), smtpSecrets(cfg)))
	}
	return &SMTP{cfg: cfg, secrets: smtpSecrets(cfg), opts: opts}, nil
}

// smtpSecrets lists the password and the encodings in which it crosses
// the wire (PLAIN's base64 blob, LOGIN's base64 password).
func smtpSecrets(cfg SMTPConfig) []string {
	if cfg.Password == "" {
		return nil
	}
	enc := base64.StdEncoding.EncodeToString
	return []string{
		enc([]byte("\x00" + cfg.Username + "\x00" + cfg.Password)),
		enc([]byte(cfg.Password)),
		cfg.Password,
	}
}

func redactAll(s string, secrets []string) string {
	for _, p := range secrets {
		if p != "" {
			s = strings.ReplaceAll(s, p, "[redacted]")
		}
	}
	return s
}

// Send writes m as one e-mail: m.Subject as the subject, m.Text as the
// plain-text body, and m.Link on a last line.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := mail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return &Error{Channel: ChannelSMTP, Permanent: true, Detail: "from address: " + err.Error()}
	}
	if err := msg.To(s.cfg.To...); err != nil {
		return &Error{Channel: ChannelSMTP, Permanent: true, Detail: "recipient: " + err.Error()}
	}
	msg.Subject(oneLine(m.Subject))
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(mail.TypeTextPlain, MailText(m))

	client, err := mail.NewClient(s.cfg.Host, s.opts...)
	if err != nil {
		return &Error{Channel: ChannelSMTP, Permanent: true, Detail: redactAll(err.Error(), s.secrets)}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return s.classify(ctx, err)
	}
	return nil
}

// MailText is the plain-text body Send writes for m.
func MailText(m Message) string {
	text := strings.TrimRight(m.Text, "\n")
	if link := linkURL(m.Link); link != "" {
		if text != "" {
			text += "\n\n"
		}
		text += m.linkText() + ": " + link
	}
	return text + "\n"
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// classify turns a go-mail error into an *Error: 5yz replies, refused
// certificates and missing server features are permanent; 4yz replies,
// network failures and timeouts are retryable.
func (s *SMTP) classify(ctx context.Context, err error) *Error {
	e := &Error{Channel: ChannelSMTP, cause: contextCause(ctx)}
	text := err.Error()
	var se *mail.SendError
	var te *textproto.Error
	var ne net.Error
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var cie x509.CertificateInvalidError
	switch {
	case errors.As(err, &te):
		e.Code = te.Code
		e.Permanent = te.Code >= 500 && te.Code <= 599
	case errors.As(err, &se) && se.ErrorCode() != 0:
		e.Code = se.ErrorCode()
		e.Permanent = !se.IsTemp() && e.Code >= 500
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie):
		e.Permanent = true
		text = "TLS certificate not trusted: " + text
	case errors.As(err, &ne) && ne.Timeout(), ctx.Err() != nil:
		text = "timed out: " + text
	case strings.Contains(text, "does not support"), errors.Is(err, mail.ErrNoSupportedAuthDiscovered):
		// STARTTLS or the chosen AUTH mechanism missing: the server's
		// configuration, not a passing state.
		e.Permanent = true
	}
	e.Detail = bounded(redactAll(text, s.secrets))
	return e
}

// String describes the sender without its password.
func (s *SMTP) String() string {
	return fmt.Sprintf("notify.SMTP{host: %q, port: %d, security: %s, username: %q, password: %s, to: %d recipient(s)}",
		s.cfg.Host, s.cfg.Port, s.cfg.Security, s.cfg.Username, redactedMark(s.cfg.Password), len(s.cfg.To))
}

// GoString is String, so %#v cannot print the password either.
func (s *SMTP) GoString() string { return s.String() }

func redactedMark(s string) string {
	if s == "" {
		return "(none)"
	}
	return "[redacted]"
}
