package handlers

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/delivery"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/testkit"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// Distinctive secrets: any appearance in a log, response or scrape is a leak.
const (
	leakSecret     = "whsec_LEAKCHECK_current_5c1f0e9a7b"
	leakPrevious   = "whsec_LEAKCHECK_previous_77e0d1"
	leakWrongKey   = "whsec_LEAKCHECK_forger_3a9d"
	leakAdminToken = "admtok_LEAKCHECK_82d4c6f0"
	leakWrongToken = "admtok_LEAKCHECK_wrong_19af"
	leakGarbageSig = "SIG_LEAKCHECK_not_base64_ffff"
)

// leakRecorder sends requests, remembering every signature sent and every
// response's status line, headers and body.
type leakRecorder struct {
	t          *testing.T
	signatures []string
	responses  strings.Builder
}

func (lr *leakRecorder) do(req *http.Request) int {
	lr.t.Helper()
	if s := req.Header.Get(prolific.HeaderSignature); s != "" {
		lr.signatures = append(lr.signatures, s)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		lr.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(&lr.responses, "%s %s -> %s\n", req.Method, req.URL.Path, resp.Status)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&lr.responses, "%s: %s\n", k, strings.Join(resp.Header[k], ", "))
	}
	lr.responses.Write(body)
	lr.responses.WriteString("\n")
	return resp.StatusCode
}

// adminGet returns a GET of path on base with the bearer token (none when "").
func adminGet(base, path, token string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// TestNoSecretLeaks drives every error path it can with distinctive secrets
// and checks that no log line (at debug level), response status, header or
// body, and no /metrics scrape contains the webhook secrets, the admin
// tokens or any signature sent.
func TestNoSecretLeaks(t *testing.T) {
	logs := new(testkit.SyncBuffer)
	opts := []option{func(d *Deps) {
		d.Log = zerolog.New(logs).Level(zerolog.DebugLevel)
		d.Keyring = verify.NewKeyring(leakSecret, []string{leakPrevious})
		d.AdminToken = leakAdminToken
		d.MaxBodyBytes = 4096
	}}
	tr := newTestReceiver(t, opts...)
	down := newTestReceiver(t, opts...) // its store is closed below: 503 paths
	lr := &leakRecorder{t: t}
	url := tr.public.URL + "/hooks/prolific"
	good := submissionBody(delivery.NewID(), "AWAITING REVIEW")
	ts := func(d time.Duration) string { return strconv.FormatInt(time.Now().Add(d).Unix(), 10) }
	storedID := delivery.NewID()

	public := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"valid (debug log)", func() *http.Request {
			r := signedAt(url, leakSecret, ts(0), good)
			r.Header.Set(prolific.HeaderEventID, storedID)
			return r
		}(), 200},
		{"previous secret", signedAt(url, leakPrevious, ts(0), submissionBody(delivery.NewID(), "ACTIVE")), 200},
		{"wrong secret", signedAt(url, leakWrongKey, ts(0), good), 401},
		{"garbage signature", func() *http.Request {
			r := signedAt(url, leakSecret, ts(0), good)
			r.Header.Set(prolific.HeaderSignature, leakGarbageSig)
			return r
		}(), 401},
		{"stale timestamp, valid signature", signedAt(url, leakSecret, ts(-30*time.Hour), good), 401},
		{"future timestamp, valid signature", signedAt(url, leakSecret, ts(time.Hour), good), 401},
		{"bad timestamp, valid signature", signedAt(url, leakSecret, "LEAKCHECK-ts", good), 401},
		{"malformed body", signedAt(url, leakSecret, ts(0), []byte(`{"resource_id": "x", "event_type": `)), 400},
		{"missing status", signedAt(url, leakSecret, ts(0), []byte(`{"resource_id": "x", "event_type": "study.status.change"}`)), 400},
		{"too large", signedAt(url, leakSecret, ts(0), bytes.Repeat([]byte(" "), 5000)), 413},
		{"too large, chunked", func() *http.Request {
			r := signedAt(url, leakSecret, ts(0), bytes.Repeat([]byte(" "), 5000))
			r.Body, r.ContentLength = io.NopCloser(io.MultiReader(bytes.NewReader(bytes.Repeat([]byte(" "), 5000)))), -1
			return r
		}(), 413},
		{"missing event id", func() *http.Request {
			r := signedAt(url, leakSecret, ts(0), good)
			r.Header.Del(prolific.HeaderEventID)
			return r
		}(), 400},
		{"bad X-Timestamp", func() *http.Request {
			r := signedAt(url, leakSecret, ts(0), good)
			r.Header.Set(prolific.HeaderTimestamp, "never")
			return r
		}(), 400},
		{"wrong method", func() *http.Request { r, _ := http.NewRequest(http.MethodGet, url, nil); return r }(), 405},
	}
	for _, tc := range public {
		if got := lr.do(tc.req); got != tc.want {
			t.Errorf("%s: status = %d, want %d", tc.name, got, tc.want)
		}
	}

	down.store.Close()
	admin := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"store failure", signedAt(down.public.URL+"/hooks/prolific", leakSecret, ts(0), good), 503},
		{"readyz with store down", adminGet(down.admin.URL, "/readyz", ""), 503},
		{"read API with store down", adminGet(down.admin.URL, "/api/v1/events", leakAdminToken), 503},
		{"read API without token", adminGet(tr.admin.URL, "/api/v1/events", ""), 401},
		{"read API with wrong token", adminGet(tr.admin.URL, "/api/v1/events", leakWrongToken), 401},
		{"read API 404", adminGet(tr.admin.URL, "/api/v1/events/"+delivery.NewID(), leakAdminToken), 404},
		{"read API 400", adminGet(tr.admin.URL, "/api/v1/events?limit=nope", leakAdminToken), 400},
		{"read API event with body", adminGet(tr.admin.URL, "/api/v1/events/"+storedID, leakAdminToken), 200},
		{"read API list", adminGet(tr.admin.URL, "/api/v1/events", leakAdminToken), 200},
		{"metrics", adminGet(tr.admin.URL, "/metrics", ""), 200},
		{"metrics of the failing receiver", adminGet(down.admin.URL, "/metrics", ""), 200},
	}
	for _, tc := range admin {
		if got := lr.do(tc.req); got != tc.want {
			t.Errorf("%s: status = %d, want %d", tc.name, got, tc.want)
		}
	}

	artefacts := map[string]string{"logs": logs.String(), "responses": lr.responses.String()}
	for _, must := range []string{`"reason":"bad_signature"`, `"reason":"store_error"`, `"message":"webhook accepted"`} {
		if !strings.Contains(artefacts["logs"], must) {
			t.Errorf("logs lack %s: the error paths did not run as intended", must)
		}
	}
	if !strings.Contains(artefacts["responses"], "receiver_verification_failures_total") {
		t.Error("responses lack the /metrics scrape")
	}
	secrets := append([]string{leakSecret, leakPrevious, leakWrongKey, leakAdminToken, leakWrongToken, leakGarbageSig}, lr.signatures...)
	if len(lr.signatures) < 14 { // every public case but the GET, and the store failure
		t.Fatalf("recorded %d signatures, want one per signed request", len(lr.signatures))
	}
	for name, text := range artefacts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contain the secret value %.12s…", name, s)
			}
		}
	}
}

// TestVerifyErrorsNeverQuoteInputs checks the Error() strings of every
// verification failure, wrapped as the handlers log them.
func TestVerifyErrorsNeverQuoteInputs(t *testing.T) {
	now := time.Now()
	body := submissionBody(delivery.NewID(), "ACTIVE")
	fresh := strconv.FormatInt(now.Unix(), 10)
	old := strconv.FormatInt(now.Add(-30*time.Hour).Unix(), 10)
	ahead := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	tests := []struct {
		name, sig, ts string
		secrets       []string
	}{
		{"no secret", verify.Sign(leakSecret, fresh, body), fresh, nil},
		{"no signature", "", fresh, []string{leakSecret}},
		{"no timestamp", verify.Sign(leakSecret, fresh, body), "", []string{leakSecret}},
		{"bad timestamp", verify.Sign(leakSecret, "LEAKCHECK-ts", body), "LEAKCHECK-ts", []string{leakSecret}},
		{"bad encoding", leakGarbageSig, fresh, []string{leakSecret}},
		{"wrong secret", verify.Sign(leakWrongKey, fresh, body), fresh, []string{leakSecret, leakPrevious}},
		{"too old", verify.Sign(leakSecret, old, body), old, []string{leakSecret}},
		{"too new", verify.Sign(leakSecret, ahead, body), ahead, []string{leakSecret}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verify.Verify(tc.sig, tc.ts, body, tc.secrets, now, verify.DefaultTolerance)
			if err == nil {
				t.Fatal("Verify() = nil error, want a failure")
			}
			msg := fmt.Errorf("verify delivery: %w", err).Error()
			for _, s := range []string{leakSecret, leakPrevious, leakWrongKey, tc.sig, "LEAKCHECK"} {
				if s != "" && strings.Contains(msg, s) {
					t.Errorf("Verify() error %q contains %.12s…", msg, s)
				}
			}
			if tc.ts != "" && len(tc.ts) > 4 && strings.Contains(msg, tc.ts) {
				t.Errorf("Verify() error %q quotes the timestamp header %q", msg, tc.ts)
			}
		})
	}
	if _, err := verify.ParseTimestamp("LEAKCHECK-" + leakSecret); err == nil || strings.Contains(err.Error(), "LEAKCHECK") {
		t.Errorf("ParseTimestamp() error = %v, want one that does not quote its input", err)
	}
	if got := publicVerifyMessage(verify.ErrNoValidSignature); strings.Contains(got, "LEAKCHECK") {
		t.Errorf("publicVerifyMessage() = %q", got)
	}
}
