package verify

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The test vectors of webhooks.md §2.2, computed with Python's json and hmac.
const (
	vecSecret    = "test-secret-not-real"
	vecTimestamp = "1735689600"
	vecPyBody    = `{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "submission.status.change", "participant_id": "5f1e2d3c4b5a69788796a5b4", "status": "AWAITING REVIEW"}`
	vecPySig     = "6xRrsWPPufbhR7iL/gaUNzSQqj3M/3+5g//67tFq9VM="
	vecCompact   = `{"resource_id":"6650a1b2c3d4e5f601234567","event_type":"submission.status.change","participant_id":"5f1e2d3c4b5a69788796a5b4","status":"AWAITING REVIEW"}`
	vecCompSig   = "LZnpHq86hIKkblY3w3fP2egZKqcSNF4wA0pe6znmdHA="
)

// vecTime is the instant vecTimestamp names.
var vecTime = time.Unix(1735689600, 0).UTC()

func TestSignMatchesDocumentedVectors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{vecPyBody, vecPySig},
		{vecCompact, vecCompSig},
	} {
		if got := Sign(vecSecret, vecTimestamp, []byte(tc.body)); got != tc.want {
			t.Errorf("Sign(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestVerify(t *testing.T) {
	now := vecTime.Add(90 * time.Second)
	secrets := []string{vecSecret}
	sign := func(ts, body string) string { return Sign(vecSecret, ts, []byte(body)) }
	cases := []struct {
		name      string
		sig, ts   string
		body      string
		secrets   []string
		now       time.Time
		want      Result
		wantErr   error
		wantNoErr bool
	}{
		{name: "python vector raw", sig: vecPySig, ts: vecTimestamp, body: vecPyBody,
			want: Result{Form: FormRaw, Timestamp: vecTime, Age: 90 * time.Second}},
		{name: "compact vector raw", sig: vecCompSig, ts: vecTimestamp, body: vecCompact,
			want: Result{Form: FormRaw, Timestamp: vecTime, Age: 90 * time.Second}},
		{name: "compact body, python-signed", sig: vecPySig, ts: vecTimestamp, body: vecCompact,
			want: Result{Form: FormPython, Timestamp: vecTime, Age: 90 * time.Second}},
		{name: "spaced body, compact-signed", sig: vecCompSig, ts: vecTimestamp,
			body: "{\n  \"resource_id\": \"6650a1b2c3d4e5f601234567\",\n  \"event_type\": \"submission.status.change\",\n  \"participant_id\": \"5f1e2d3c4b5a69788796a5b4\",\n  \"status\": \"AWAITING REVIEW\"\n}",
			want: Result{Form: FormCompact, Timestamp: vecTime, Age: 90 * time.Second}},
		{name: "non-ascii python fallback", sig: sign(vecTimestamp, `{"note": "caf\u00e9"}`), ts: vecTimestamp,
			body: `{"note":"café"}`, want: Result{Form: FormPython, Timestamp: vecTime, Age: 90 * time.Second}},
		{name: "not json, raw only", sig: sign(vecTimestamp, "plain text"), ts: vecTimestamp, body: "plain text",
			want: Result{Form: FormRaw, Timestamp: vecTime, Age: 90 * time.Second}},
		{name: "empty body", sig: sign(vecTimestamp, ""), ts: vecTimestamp, body: "",
			want: Result{Form: FormRaw, Timestamp: vecTime, Age: 90 * time.Second}},
		{name: "wrong secret", sig: Sign("another-secret", vecTimestamp, []byte(vecPyBody)), ts: vecTimestamp,
			body: vecPyBody, wantErr: ErrNoValidSignature},
		{name: "tampered body", sig: vecPySig, ts: vecTimestamp,
			body: strings.Replace(vecPyBody, "AWAITING REVIEW", "APPROVED", 1), wantErr: ErrNoValidSignature},
		{name: "tampered timestamp", sig: vecPySig, ts: "1735689601", body: vecPyBody, wantErr: ErrNoValidSignature},
		{name: "timestamp reformatted", sig: vecPySig, ts: "1735689600.0", body: vecPyBody, wantErr: ErrNoValidSignature},
		{name: "stale", sig: vecPySig, ts: vecTimestamp, body: vecPyBody,
			now: vecTime.Add(26*time.Hour + time.Second), wantErr: ErrTooOld,
			want: Result{Form: FormRaw, Timestamp: vecTime, Age: 26*time.Hour + time.Second}},
		{name: "just inside past tolerance", sig: vecPySig, ts: vecTimestamp, body: vecPyBody,
			now: vecTime.Add(26 * time.Hour), want: Result{Form: FormRaw, Timestamp: vecTime, Age: 26 * time.Hour}},
		{name: "future", sig: vecPySig, ts: vecTimestamp, body: vecPyBody,
			now: vecTime.Add(-5*time.Minute - time.Second), wantErr: ErrTooNew,
			want: Result{Form: FormRaw, Timestamp: vecTime, Age: -5*time.Minute - time.Second}},
		{name: "year 2603 (signed): Age saturates, the window still holds", sig: sign("20000000000", vecPyBody), ts: "20000000000",
			body: vecPyBody, wantErr: ErrTooNew,
			want: Result{Form: FormRaw, Timestamp: time.Unix(20000000000, 0).UTC(), Age: now.Sub(time.Unix(20000000000, 0))}},
		{name: "year 33658 (signed)", sig: sign("999999999999", vecPyBody), ts: "999999999999", body: vecPyBody, wantErr: ErrBadTimestamp},
		{name: "2^63-1 ms (signed)", sig: sign("9223372036854775807", vecPyBody), ts: "9223372036854775807", body: vecPyBody, wantErr: ErrBadTimestamp},
		{name: "slightly future", sig: vecPySig, ts: vecTimestamp, body: vecPyBody,
			now: vecTime.Add(-time.Minute), want: Result{Form: FormRaw, Timestamp: vecTime, Age: -time.Minute}},
		{name: "stale and unsigned", sig: Sign("x", vecTimestamp, []byte(vecPyBody)), ts: vecTimestamp, body: vecPyBody,
			now: vecTime.Add(48 * time.Hour), wantErr: ErrNoValidSignature},
		{name: "no signature", sig: "", ts: vecTimestamp, body: vecPyBody, wantErr: ErrNoSignature},
		{name: "no timestamp", sig: vecPySig, ts: "", body: vecPyBody, wantErr: ErrNoTimestamp},
		{name: "no signature nor timestamp", body: vecPyBody, wantErr: ErrNoSignature},
		{name: "non-numeric timestamp", sig: vecPySig, ts: "yesterday", body: vecPyBody, wantErr: ErrBadTimestamp},
		{name: "bad timestamp before bad signature", sig: "!!", ts: "x", body: vecPyBody, wantErr: ErrBadTimestamp},
		{name: "not base64", sig: strings.Repeat("!", 44), ts: vecTimestamp, body: vecPyBody, wantErr: ErrBadSignatureEncoding},
		{name: "unpadded base64", sig: strings.TrimSuffix(vecPySig, "="), ts: vecTimestamp, body: vecPyBody, wantErr: ErrBadSignatureEncoding},
		{name: "url alphabet", sig: strings.NewReplacer("/", "_", "+", "-").Replace(vecPySig), ts: vecTimestamp, body: vecPyBody, wantErr: ErrBadSignatureEncoding},
		{name: "too short", sig: "c2hvcnQ=", ts: vecTimestamp, body: vecPyBody, wantErr: ErrBadSignatureEncoding},
		{name: "too long", sig: vecPySig + "AAAA", ts: vecTimestamp, body: vecPyBody, wantErr: ErrBadSignatureEncoding},
		{name: "hex instead of base64", sig: strings.Repeat("ab", 32), ts: vecTimestamp, body: vecPyBody, wantErr: ErrBadSignatureEncoding},
		{name: "no secrets", sig: vecPySig, ts: vecTimestamp, body: vecPyBody, secrets: []string{}, wantErr: ErrNoSecret},
		{name: "only empty secrets", sig: Sign("", vecTimestamp, []byte(vecPyBody)), ts: vecTimestamp, body: vecPyBody,
			secrets: []string{"", ""}, wantErr: ErrNoSecret},
		{name: "empty secret skipped", sig: Sign("", vecTimestamp, []byte(vecPyBody)), ts: vecTimestamp, body: vecPyBody,
			secrets: []string{"", vecSecret}, wantErr: ErrNoValidSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, n := secrets, now
			if tc.secrets != nil {
				s = tc.secrets
			}
			if !tc.now.IsZero() {
				n = tc.now
			}
			got, err := Verify(tc.sig, tc.ts, []byte(tc.body), s, n, DefaultTolerance)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Verify() error = %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Result{}, "Message")); diff != "" {
				t.Errorf("Verify() result mismatch (-want +got):\n%s", diff)
			}
			// Message is exactly what the signature covers, whichever form matched.
			if got.Form != "" && Sign(vecSecret, tc.ts, got.Message) != tc.sig {
				t.Errorf("Verify().Message = %q: the signature does not cover it", got.Message)
			}
			if got.Form == "" && got.Message != nil {
				t.Errorf("Verify().Message = %q without a matching form, want nil", got.Message)
			}
		})
	}
}

func TestVerifyRotatedSecrets(t *testing.T) {
	now := vecTime
	body := []byte(vecPyBody)
	secrets := []string{"new-secret", "old-secret", "older-secret"}
	for _, tc := range []struct {
		signer  string
		want    int
		wantErr error
	}{
		{signer: "new-secret", want: 0},
		{signer: "old-secret", want: 1},
		{signer: "older-secret", want: 2},
		{signer: "retired-secret", wantErr: ErrNoValidSignature},
	} {
		t.Run(tc.signer, func(t *testing.T) {
			got, err := Verify(Sign(tc.signer, vecTimestamp, body), vecTimestamp, body, secrets, now, DefaultTolerance)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify() error = %v, want %v", err, tc.wantErr)
			}
			if err == nil && (got.SecretIndex != tc.want || got.Form != FormRaw) {
				t.Errorf("Verify() = index %d form %s, want index %d form %s", got.SecretIndex, got.Form, tc.want, FormRaw)
			}
		})
	}
	// A Python-form signature made with an older secret reports that secret.
	got, err := Verify(vecPySig, vecTimestamp, []byte(vecCompact), []string{"new", vecSecret}, now, DefaultTolerance)
	if err != nil || got.SecretIndex != 1 || got.Form != FormPython {
		t.Errorf("Verify(python form, old secret) = %+v, %v; want index 1, form %s", got, err, FormPython)
	}
}

func TestVerifyToleranceZeroDisablesCheck(t *testing.T) {
	got, err := Verify(vecPySig, vecTimestamp, []byte(vecPyBody), []string{vecSecret},
		vecTime.Add(1000*time.Hour), Tolerance{})
	if err != nil || got.Age != 1000*time.Hour {
		t.Errorf("Verify(zero tolerance) = %+v, %v; want age 1000h, no error", got, err)
	}
}

func TestVerifyMillisecondTimestamp(t *testing.T) {
	ts := "1735689600250"
	sig := Sign(vecSecret, ts, []byte(vecPyBody))
	got, err := Verify(sig, ts, []byte(vecPyBody), []string{vecSecret}, vecTime.Add(time.Second), DefaultTolerance)
	if err != nil {
		t.Fatalf("Verify(ms timestamp) error = %v, want nil", err)
	}
	if want := 750 * time.Millisecond; got.Age != want {
		t.Errorf("Verify(ms timestamp).Age = %v, want %v", got.Age, want)
	}
}

// TestErrorsNeverLeakSecrets runs every failure path and checks that neither
// the secret, the signature nor any decodable part of it reaches the error.
func TestErrorsNeverLeakSecrets(t *testing.T) {
	const secret = "s3cr3t-VALUE-do-not-log"
	body := []byte(`{"a": 1}`)
	good := Sign(secret, vecTimestamp, body)
	other := Sign("other-secret-XYZ", vecTimestamp, body)
	inputs := []struct{ sig, ts string }{
		{"", vecTimestamp},
		{good, ""},
		{good, "not-a-time"},
		{good, strings.Repeat("9", 100)},
		{"!" + good[1:], vecTimestamp},
		{good[:40], vecTimestamp},
		{other, vecTimestamp},
		{good, "1"},
		{good, "99999999999"},
	}
	for _, in := range inputs {
		for _, secrets := range [][]string{{secret}, {"", "unrelated"}, nil} {
			_, err := Verify(in.sig, in.ts, body, secrets, vecTime, DefaultTolerance)
			if err == nil {
				t.Fatalf("Verify(%q) error = nil, want an error", in.ts)
			}
			msg := err.Error()
			for _, leak := range []string{secret, "other-secret-XYZ", good, other, good[:20], other[:20]} {
				if strings.Contains(msg, leak) {
					t.Errorf("Verify() error %q contains a secret or signature", msg)
				}
			}
		}
	}
}

// TestFallbackFormsOnlyUpToMaxFallbackBytes: a body over MaxFallbackBytes
// verifies only as sent; at the bound the re-serialised forms still count.
func TestFallbackFormsOnlyUpToMaxFallbackBytes(t *testing.T) {
	for _, tc := range []struct {
		size     int
		wantForm Form
	}{
		{MaxFallbackBytes, FormPython},
		{MaxFallbackBytes + 1, ""},
	} {
		prefix, suffix := `{"pad":"`, `"}`
		compact := []byte(prefix + strings.Repeat("a", tc.size-len(prefix)-len(suffix)) + suffix)
		py, err := PythonDumps(compact)
		if err != nil {
			t.Fatal(err)
		}
		sig := Sign(vecSecret, vecTimestamp, py) // signed in Python's spacing, sent compact
		res, err := Verify(sig, vecTimestamp, compact, []string{vecSecret}, vecTime, DefaultTolerance)
		if res.Form != tc.wantForm || (tc.wantForm == "") != errors.Is(err, ErrNoValidSignature) {
			t.Errorf("Verify(%d-byte compact body, Python-signed) = %q, %v; want form %q", len(compact), res.Form, err, tc.wantForm)
		}
		// Signed as sent, any size verifies.
		if res, err := Verify(Sign(vecSecret, vecTimestamp, compact), vecTimestamp, compact, []string{vecSecret}, vecTime, DefaultTolerance); err != nil || res.Form != FormRaw {
			t.Errorf("Verify(%d-byte body signed raw) = %q, %v; want raw", len(compact), res.Form, err)
		}
	}
}
