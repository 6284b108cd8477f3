package notify

import (
	"context"
	"encoding/base64"
	"errors"
	"net/textproto"
	"strings"
	"testing"
)

// TestSMTPErrorsRedactPassword: a server that quotes what it was sent (the
// password, PLAIN's base64 blob, LOGIN's base64 password) does not get it
// into the error.
func TestSMTPErrorsRedactPassword(t *testing.T) {
	const user, pass = "lab@example.org", "s3cret-Pa55word"
	s, err := NewSMTP(SMTPConfig{Host: "mail.example.org", Username: user, Password: pass,
		From: "r@example.org", To: []string{"pi@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString
	forms := []string{pass, enc([]byte("\x00" + user + "\x00" + pass)), enc([]byte(pass))}
	for _, form := range forms {
		cause := &textproto.Error{Code: 535, Msg: "5.7.8 authentication failed for " + form}
		e := s.classify(context.Background(), errors.Join(errors.New("dial failed"), cause))
		if !e.Permanent || e.Code != 535 {
			t.Errorf("classify = %+v, want permanent 535", e)
		}
		if strings.Contains(e.Error(), form) {
			t.Errorf("error %q quotes a form of the password", e.Error())
		}
	}
	if strings.Contains(s.String(), pass) {
		t.Errorf("String() = %q", s.String())
	}
}

// TestWebhookRedactsURLParts: an answer quoting the URL, its path, its query
// or one query value (Teams' sig) loses them.
func TestWebhookRedactsURLParts(t *testing.T) {
	const sig = "Zx9-SIGNATURE-value_123"
	w, err := newWebhook(ChannelTeams, "https://prod.example.logic.azure.com/workflows/abc123def/triggers/manual/paths/invoke?api-version=1&sig="+sig, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, echo := range []string{
		"https://prod.example.logic.azure.com/workflows/abc123def/triggers/manual/paths/invoke?api-version=1&sig=" + sig,
		"/workflows/abc123def/triggers/manual/paths/invoke",
		"api-version=1&sig=" + sig,
		"bad signature " + sig,
	} {
		got := w.answerDetail(401, []byte(echo))
		if strings.Contains(got, sig) || strings.Contains(got, "abc123def") {
			t.Errorf("answerDetail(%q) = %q, still holds a secret part", echo, got)
		}
	}
}
