package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/notify"
	"github.com/prolific-receiver/receiver/internal/notifytest"
	"github.com/prolific-receiver/receiver/internal/rules"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
	"github.com/prolific-receiver/receiver/internal/testkit/testcert"
)

// TestRulesNotifyEveryChannel: one rule per channel, built from a rules
// file as serve builds them, sends a study's completion to a local Slack
// and Teams webhook and a local SMTP server, each once.
func TestRulesNotifyEveryChannel(t *testing.T) {
	sink := notifytest.NewSink(nil)
	hooks := httptest.NewServer(sink)
	defer hooks.Close()
	mail, err := notifytest.NewSMTPServer(notifytest.SMTPOptions{Security: notifytest.SMTPNone})
	if err != nil {
		t.Fatal(err)
	}
	defer mail.Close()
	file := fmt.Sprintf(`notifiers:
  - {name: slack, type: slack, url: "${HOOKS}/slack/T0/B0/slack-secret-token"}
  - {name: teams, type: teams, url: "${HOOKS}/teams/workflow?sig=teams-secret-sig"}
  - name: mail
    type: smtp
    smtp: {host: %s, port: %d, security: none, from: receiver@lab.test, to: [pi@lab.test]}
rules:
  - {name: done-slack, trigger: {study_status: [COMPLETED]}, action: {type: notify, notifier: slack}}
  - {name: done-teams, trigger: {study_status: [COMPLETED]}, action: {type: notify, notifier: teams}}
  - {name: done-mail, trigger: {study_status: [COMPLETED]}, action: {type: notify, notifier: mail}}
`, mail.Host(), mail.Port())
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOOKS", hooks.URL)
	cfg, err := rules.Load(path, os.Getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := senders(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range ss {
		if d := fmt.Sprint(s); strings.Contains(d, "secret") {
			t.Errorf("notifier %s describes itself with its secret: %s", name, d)
		}
	}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng := rules.New(cfg, rules.Options{Mode: rules.ModeLive, Store: db, Senders: ss, Log: zerolog.Nop(),
		DashboardURL: "https://receiver.lab.test"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := eng.EvaluateEvents(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Save(ctx, storetest.NewEvent("study.status.change", "6650a1b2c3d4e5f6aaaa0009", "COMPLETED", time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := eng.EvaluateEvents(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.ExecuteDue(ctx); err != nil {
		t.Fatal(err)
	}
	chats := sink.Wait(2, 5*time.Second)
	mails := mail.Wait(1, 5*time.Second)
	if len(chats) != 2 || len(mails) != 1 {
		t.Fatalf("%d chat messages and %d mails, want 2 and 1", len(chats), len(mails))
	}
	for _, m := range append(chats, mails...) {
		if !strings.Contains(m.Text, "the study is now COMPLETED") || !strings.Contains(m.Raw+m.Text+strings.Join(m.Links, " "), "https://receiver.lab.test/studies/6650a1b2c3d4e5f6aaaa0009") {
			t.Errorf("%s message %q lacks what happened or the dashboard link", m.Channel, m.Text)
		}
	}
	as, err := db.Actions(ctx, store.ActionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.Outcome != store.ActionDone || strings.Contains(a.Request, "secret") {
			t.Errorf("action %s: %s, request %q", a.Rule, a.Outcome, a.Request)
		}
	}
}

// TestRulesSMTPCAFile: a mail server whose certificate a private CA signed
// is refused by an SMTP notifier that trusts the system's roots, and
// reached over STARTTLS and TLS once the rules file's ca_file names the CA;
// `receiver rules check` refuses a ca_file without a certificate at its line.
func TestRulesSMTPCAFile(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcert.New(testcert.Options{CommonName: "lab private CA", CA: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := testcert.New(testcert.Options{CommonName: "mail.lab.test", Parent: ca})
	if err != nil {
		t.Fatal(err)
	}
	caFile, keyFile := filepath.Join(dir, "lab-ca.pem"), filepath.Join(dir, "lab-ca.key")
	if err := ca.WriteFiles(caFile, keyFile); err != nil {
		t.Fatal(err)
	}
	for _, security := range []string{notifytest.SMTPStartTLS, notifytest.SMTPTLS} {
		t.Run(security, func(t *testing.T) {
			mail, err := notifytest.NewSMTPServer(notifytest.SMTPOptions{Security: security, Cert: leaf})
			if err != nil {
				t.Fatal(err)
			}
			defer mail.Close()
			send := func(caLine string) error {
				file := fmt.Sprintf("notifiers:\n  - name: mail\n    type: smtp\n    smtp:\n      host: %s\n      port: %d\n      security: %s\n      from: receiver@lab.test\n      to: [pi@lab.test]\n%s"+
					"rules:\n  - {name: done, trigger: {study_status: [COMPLETED]}, action: {type: notify, notifier: mail}}\n", mail.Host(), mail.Port(), security, caLine)
				cfg, err := rules.Parse([]byte(file), os.Getenv, nil)
				if err != nil {
					t.Fatal(err)
				}
				ss, err := senders(cfg)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return ss["mail"].Send(ctx, notify.Message{Subject: "Study completed", Text: "the study is now COMPLETED"})
			}
			var unknown x509.UnknownAuthorityError
			if err := send(""); !errors.As(err, &unknown) && (err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority")) {
				t.Fatalf("without ca_file: Send = %v, want the certificate refused (unknown authority)", err)
			}
			if err := send("      ca_file: " + caFile + "\n"); err != nil {
				t.Fatalf("with ca_file: Send = %v", err)
			}
			got := mail.Messages()
			if len(got) != 1 || !got[0].TLS || got[0].Subject != "Study completed" {
				t.Fatalf("server received %+v, want one message over TLS", got)
			}
		})
	}
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "notifiers:\n  - name: mail\n    type: smtp\n    smtp:\n      host: mail.lab.test\n      from: receiver@lab.test\n      to: [pi@lab.test]\n      ca_file: "+keyFile+
		"\nrules:\n  - {name: done, trigger: {study_status: [COMPLETED]}, action: {type: notify, notifier: mail}}\n")
	t.Setenv("RECEIVER_OUTPUTS_FILE", "")
	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"receiver", "rules", "check", bad}, &out, &errOut)
	if want := "line 8: smtp.ca_file: " + keyFile + ": no PEM certificate in the file"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("rules check with a key as ca_file = %v, want %q", err, want)
	}
}
