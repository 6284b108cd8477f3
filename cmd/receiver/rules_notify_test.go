package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/notifytest"
	"github.com/prolific-receiver/receiver/internal/rules"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
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
