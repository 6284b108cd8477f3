package rules

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prolific-receiver/receiver/internal/testkit/testcert"
)

func TestParseNamesTheLine(t *testing.T) {
	env := map[string]string{"SLACK_WEBHOOK_URL": "https://hooks.slack.test/services/T/B/very-secret-token"}
	getenv := func(k string) string { return env[k] }
	cases := []struct {
		name, src, want string
	}{
		{"unknown action", "rules:\n  - name: a\n    trigger:\n      event_type: study.status.change\n    action:\n      type: explode\n", "line 6: type: \"explode\" must be"},
		{"unset variable", "rules:\n  - name: g\n    trigger:\n      event_type: submission.status.change\n    action:\n      type: group_add\n      group_id: ${FOLLOWUP_GROUP_ID}\n", "line 7: group_id: ${FOLLOWUP_GROUP_ID} is not set (set FOLLOWUP_GROUP_ID or FOLLOWUP_GROUP_ID_FILE)"},
		{"approve without studies", "rules:\n  - name: ok\n    trigger:\n      event_type: submission.status.change\n      statuses: [AWAITING REVIEW]\n    action:\n      type: approve\n      min_age: 48h\n", "line 7: type: approve only acts on studies the rule names"},
		{"approve without min_age", "rules:\n  - name: ok\n    trigger:\n      event_type: submission.status.change\n      statuses: [AWAITING REVIEW]\n      study_ids: [s1]\n    action:\n      type: approve\n", "line 8: min_age: required for approve"},
		{"unknown notifier", "rules:\n  - name: n\n    trigger:\n      study_status: [COMPLETED]\n    action:\n      type: notify\n      notifier: nobody\n", "line 7: notifier: \"nobody\" is not one of"},
		{"two triggers", "rules:\n  - name: n\n    trigger:\n      study_status: [COMPLETED]\n      health: subscription_disabled\n    action:\n      type: pause\n", "line 4: trigger: give only one of study_status, health"},
		{"bad duration", "notifiers:\n  - name: s\n    type: slack\n    url: ${SLACK_WEBHOOK_URL}\nrules:\n  - name: n\n    trigger:\n      study_status: [COMPLETED]\n    action:\n      type: notify\n      notifier: s\n      digest: often\n", "line 12: digest: \"often\" is not a positive duration"},
		{"unknown field", "rules:\n  - name: n\n    trigger:\n      study_status: [COMPLETED]\n    acton:\n      type: pause\n", "[5:5] unknown field \"acton\""},
		{"bad template", "notifiers:\n  - name: s\n    type: slack\n    url: ${SLACK_WEBHOOK_URL}\nrules:\n  - name: n\n    trigger:\n      study_status: [COMPLETED]\n    action:\n      type: notify\n      notifier: s\n      text: \"{{.Study\"\n", "line 12: text: template"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src), getenv, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "very-secret-token") {
				t.Errorf("error shows the webhook URL's token: %v", err)
			}
		})
	}
}

// TestParseNeverShowsSecrets: a bad secret-bearing value is named by its
// field and line, never quoted.
func TestParseNeverShowsSecrets(t *testing.T) {
	env := map[string]string{"HOOK": "ftp://user:hunter2@hooks.example/T/B/very-secret-token", "PW": "hunter2"}
	src := "notifiers:\n  - name: s\n    type: slack\n    url: ${HOOK}\n  - name: m\n    type: smtp\n    smtp:\n      host: mail.test\n      password: ${PW}\n      security: starttls-please\n      from: a@b.test\n      to: [c@d.test]\nrules:\n  - name: n\n    trigger:\n      study_status: [COMPLETED]\n    action:\n      type: notify\n      notifier: s\n"
	_, err := Parse([]byte(src), func(k string) string { return env[k] }, nil)
	if err == nil {
		t.Fatal("Parse accepted a bad URL")
	}
	for _, secret := range []string{"hunter2", "very-secret-token"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows %q: %v", secret, err)
		}
	}
	if !strings.Contains(err.Error(), "line 4: url:") || !strings.Contains(err.Error(), "line 10: smtp.security") {
		t.Errorf("error %v does not name lines 4 and 10", err)
	}
}

func TestParseExampleDefaults(t *testing.T) {
	c := parse(t, exampleRules)
	if len(c.Rules) != 3 || c.Rules[2].Action.Digest.Minutes() != 10 || c.Rules[2].Action.Delay != DefaultDigestDelay ||
		c.Rules[1].Action.GroupID != "group-1" || c.Rules[0].Action.Window != DefaultWindow {
		t.Errorf("parsed = %+v", c.Rules)
	}
}

// TestParseSMTPCAFile: an SMTP notifier's ca_file is read when the file is
// checked, and a path that is missing, unreadable, without a certificate or
// set with security none is refused at its line.
func TestParseSMTPCAFile(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcert.New(testcert.Options{CommonName: "lab CA", CA: true})
	if err != nil {
		t.Fatal(err)
	}
	caFile, notPEM := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "not.pem")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notPEM, []byte("no certificate here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CA_FILE": caFile}
	src := func(security, caFile string) []byte {
		return fmt.Appendf(nil, "notifiers:\n  - name: m\n    type: smtp\n    smtp:\n      host: mail.lab.test\n      security: %s\n      from: a@lab.test\n      to: [b@lab.test]\n      ca_file: %s\nrules:\n  - name: n\n    trigger:\n      study_status: [COMPLETED]\n    action:\n      type: notify\n      notifier: m\n", security, caFile)
	}
	for _, tc := range []struct{ name, security, caFile, want string }{
		{"missing", "starttls", filepath.Join(dir, "missing.pem"), "line 9: smtp.ca_file: open " + filepath.Join(dir, "missing.pem") + ": no such file or directory"},
		{"unreadable", "tls", dir, "line 9: smtp.ca_file: read " + dir + ": is a directory"},
		{"no certificate", "starttls", notPEM, "line 9: smtp.ca_file: " + notPEM + ": no PEM certificate in the file"},
		{"security none", "none", caFile, "line 9: smtp.ca_file: security none never uses TLS"},
		{"unset variable", "starttls", "${NO_CA_FILE}", "line 9: smtp.ca_file: ${NO_CA_FILE} is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(src(tc.security, tc.caFile), func(k string) string { return env[k] }, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	for _, file := range []string{caFile, "${CA_FILE}"} {
		c, err := Parse(src("starttls", file), func(k string) string { return env[k] }, nil)
		if err != nil {
			t.Fatalf("Parse with ca_file %s: %v", file, err)
		}
		n := c.Notifiers[0]
		if n.SMTP.CAFile != caFile || n.RootCAs == nil {
			t.Fatalf("ca_file %s: notifier has CAFile %q and roots %v, want %q and its roots", file, n.SMTP.CAFile, n.RootCAs, caFile)
		}
		leaf, err := testcert.New(testcert.Options{CommonName: "mail.lab.test", Parent: ca})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Leaf.Verify(x509.VerifyOptions{Roots: n.RootCAs, DNSName: "localhost"}); err != nil {
			t.Errorf("a certificate the file's CA signed does not verify against the notifier's roots: %v", err)
		}
	}
	c, err := Parse(src("starttls", `""`), nil, nil)
	if err != nil || c.Notifiers[0].RootCAs != nil {
		t.Errorf("without ca_file: Parse = %v, roots %v; want the system's (nil)", err, c.Notifiers[0].RootCAs)
	}
}
