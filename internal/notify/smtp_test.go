package notify_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/notify"
	"github.com/prolific-receiver/receiver/internal/notifytest"
)

const (
	smtpUser = "receiver@lab.example"
	smtpPass = "SMTPpassw0rd-not-real"
)

func startSMTP(t *testing.T, security string) *notifytest.SMTPServer {
	t.Helper()
	srv, err := notifytest.NewSMTPServer(notifytest.SMTPOptions{Security: security, Username: smtpUser, Password: smtpPass})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func smtpConfig(srv *notifytest.SMTPServer, security string) notify.SMTPConfig {
	return notify.SMTPConfig{
		Host: srv.Host(), Port: srv.Port(), Security: security,
		Username: smtpUser, Password: smtpPass,
		From:      "Prolific receiver <receiver@lab.example>",
		To:        []string{"pi@lab.example", "ra@lab.example"},
		TLSConfig: &tls.Config{RootCAs: srv.CertPool()},
		Timeout:   5 * time.Second,
	}
}

func TestSMTPSends(t *testing.T) {
	for _, security := range []string{notify.SecurityStartTLS, notify.SecurityTLS} {
		t.Run(security, func(t *testing.T) {
			srv := startSMTP(t, security)
			s, err := notify.NewSMTP(smtpConfig(srv, security))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), sample); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.Messages()
			if len(got) != 1 {
				t.Fatalf("server has %d messages, want 1", len(got))
			}
			m := got[0]
			if !m.TLS {
				t.Error("message travelled without TLS")
			}
			if m.User != smtpUser {
				t.Errorf("authenticated as %q, want %q", m.User, smtpUser)
			}
			if m.From != "receiver@lab.example" || strings.Join(m.To, ",") != "pi@lab.example,ra@lab.example" {
				t.Errorf("envelope from %q to %v, want receiver@lab.example to both recipients", m.From, m.To)
			}
			if m.Subject != sample.Subject {
				t.Errorf("subject %q, want %q", m.Subject, sample.Subject)
			}
			want := sample.Text + "\n\nOpen dashboard: " + sample.Link + "\n"
			if m.Text != want {
				t.Errorf("body %q, want %q", m.Text, want)
			}
			if strings.Contains(m.Raw, smtpPass) {
				t.Error("the password is in the message")
			}
		})
	}
}

func TestSMTPFailures(t *testing.T) {
	t.Run("wrong password is permanent and not quoted", func(t *testing.T) {
		srv := startSMTP(t, notify.SecurityStartTLS)
		cfg := smtpConfig(srv, notify.SecurityStartTLS)
		cfg.Password = "Wr0ng-password-xyz"
		s, err := notify.NewSMTP(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), sample)
		if err == nil || !notify.IsPermanent(err) {
			t.Fatalf("Send = %v, want a permanent error", err)
		}
		var ne *notify.Error
		if !errors.As(err, &ne) || ne.Code != 535 {
			t.Errorf("error %v, want SMTP code 535", err)
		}
		if srv.AuthFailures() != 1 {
			t.Errorf("server counted %d refused AUTH, want 1", srv.AuthFailures())
		}
		t.Logf("error: %v", err)
		assertNoSecret(t, err, cfg.Password)
		for _, form := range []string{fmt.Sprint(s), fmt.Sprintf("%#v", s), fmt.Sprintf("%+v", s)} {
			if strings.Contains(form, cfg.Password) {
				t.Errorf("sender prints as %q, which holds the password", form)
			}
		}
	})
	t.Run("untrusted certificate is permanent and sends no password", func(t *testing.T) {
		srv := startSMTP(t, notify.SecurityStartTLS)
		cfg := smtpConfig(srv, notify.SecurityStartTLS)
		cfg.TLSConfig = nil // system roots do not know the self-signed certificate
		s, err := notify.NewSMTP(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), sample)
		if err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("Send = %v, want a permanent certificate error", err)
		}
		if srv.AuthFailures() != 0 || len(srv.Messages()) != 0 {
			t.Error("server saw AUTH or a message over an untrusted connection")
		}
		assertNoSecret(t, err, smtpPass)
	})
	t.Run("server without STARTTLS is refused before AUTH", func(t *testing.T) {
		srv, err := notifytest.NewSMTPServer(notifytest.SMTPOptions{Security: notifytest.SMTPNone, Username: smtpUser, Password: smtpPass})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		s, err := notify.NewSMTP(smtpConfig(srv, notify.SecurityStartTLS))
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), sample)
		if err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("Send = %v, want a permanent error naming STARTTLS", err)
		}
		if len(srv.Messages()) != 0 {
			t.Error("the message was sent in clear")
		}
		assertNoSecret(t, err, smtpPass)
	})
	t.Run("temporary recipient failure is retryable", func(t *testing.T) {
		srv := startSMTP(t, notify.SecurityStartTLS)
		srv.FailRcpt(451, 1)
		s, _ := notify.NewSMTP(smtpConfig(srv, notify.SecurityStartTLS))
		err := s.Send(context.Background(), sample)
		var ne *notify.Error
		if err == nil || notify.IsPermanent(err) || !errors.As(err, &ne) || ne.Code != 451 {
			t.Fatalf("Send = %v, want a retryable error with code 451", err)
		}
		assertNoSecret(t, err, smtpPass)
		if err := s.Send(context.Background(), sample); err != nil {
			t.Fatalf("second Send: %v", err)
		}
		if n := len(srv.Messages()); n != 1 {
			t.Errorf("server has %d messages, want 1", n)
		}
	})
	t.Run("rejected recipient is permanent", func(t *testing.T) {
		srv := startSMTP(t, notify.SecurityStartTLS)
		srv.FailRcpt(550, 1)
		s, _ := notify.NewSMTP(smtpConfig(srv, notify.SecurityStartTLS))
		err := s.Send(context.Background(), sample)
		var ne *notify.Error
		if err == nil || !notify.IsPermanent(err) || !errors.As(err, &ne) || ne.Code != 550 {
			t.Fatalf("Send = %v, want a permanent error with code 550", err)
		}
	})
	t.Run("server down is retryable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		s, err := notify.NewSMTP(notify.SMTPConfig{Host: "127.0.0.1", Port: port, Username: smtpUser, Password: smtpPass,
			From: "r@lab.example", To: []string{"pi@lab.example"}, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), sample)
		if err == nil || notify.IsPermanent(err) {
			t.Fatalf("Send = %v, want a retryable error", err)
		}
		assertNoSecret(t, err, smtpPass)
	})
	t.Run("silent server times out retryably", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close() // never greets
			}
		}()
		s, _ := notify.NewSMTP(notify.SMTPConfig{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port,
			From: "r@lab.example", To: []string{"pi@lab.example"}, Timeout: 200 * time.Millisecond})
		start := time.Now()
		err = s.Send(context.Background(), sample)
		if err == nil || notify.IsPermanent(err) {
			t.Fatalf("Send = %v, want a retryable error", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Send took %v, want it bounded by the 200ms timeout", d)
		}
	})
}

func TestNewSMTPRejectsBadConfig(t *testing.T) {
	base := notify.SMTPConfig{Host: "mail.lab.example", From: "r@lab.example", To: []string{"pi@lab.example"}}
	tests := []struct {
		name string
		edit func(*notify.SMTPConfig)
		want string
	}{
		{"no host", func(c *notify.SMTPConfig) { c.Host = "" }, "host"},
		{"bad from", func(c *notify.SMTPConfig) { c.From = "not an address" }, "from"},
		{"no recipient", func(c *notify.SMTPConfig) { c.To = nil }, "recipient"},
		{"bad recipient", func(c *notify.SMTPConfig) { c.To = []string{"pi@"} }, "recipient"},
		{"password in clear", func(c *notify.SMTPConfig) {
			c.Security, c.Username, c.Password = notify.SecurityNone, "u", smtpPass
		}, "TLS"},
		{"password without user", func(c *notify.SMTPConfig) { c.Password = smtpPass }, "username"},
		{"unknown security", func(c *notify.SMTPConfig) { c.Security = "ssl3" }, "security"},
		{"unknown auth", func(c *notify.SMTPConfig) { c.Username, c.Password, c.Auth = "u", smtpPass, "kerberos" }, "auth"},
		{"port", func(c *notify.SMTPConfig) { c.Port = 70000 }, "port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			_, err := notify.NewSMTP(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewSMTP = %v, want an error about %s", err, tc.want)
			}
			assertNoSecret(t, err, smtpPass)
		})
	}
}
