package handlers

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/delivery"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// reformatted returns bodies that still verify against the signature over
// signed (through the Python or the compact form) but differ from it byte
// for byte: what an attacker holding one captured request can send.
func reformatted(t *testing.T, signed []byte) map[string][]byte {
	t.Helper()
	py, err := verify.PythonDumps(signed)
	if err != nil {
		t.Fatal(err)
	}
	compact, err := verify.Compact(signed)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{
		"leading space":            append([]byte(" "), signed...),
		"trailing newline":         append(append([]byte{}, signed...), '\n'),
		"two spaces after a colon": bytes.Replace(py, []byte(`": "`), []byte(`":  "`), 1),
		"tab after a comma":        bytes.Replace(py, []byte(`, "`), []byte(",\t\""), 1),
	}
	if !bytes.Equal(py, signed) {
		out["python spacing"] = py
	}
	if !bytes.Equal(compact, signed) {
		out["compact"] = compact
	}
	for name, b := range out {
		if bytes.Equal(b, signed) {
			t.Fatalf("variant %q equals the signed body", name)
		}
	}
	return out
}

// TestReplayThroughReformattedBodyIsDuplicate: a captured delivery replayed
// with a fresh X-Event-ID, X-Timestamp raised to the signed time and a body
// re-spaced so that it verifies through another signature form is the same
// event: 200 duplicate, no second event, no projection moved back. Run for
// a body signed in Python's spacing (the documented form) and compact (a
// sender signing what JSON.stringify writes).
func TestReplayThroughReformattedBodyIsDuplicate(t *testing.T) {
	for _, signedForm := range []string{"python", "compact"} {
		t.Run(signedForm, func(t *testing.T) {
			tr := newTestReceiver(t)
			url := tr.public.URL + "/hooks/prolific"
			sub := delivery.NewID()
			first := submissionBody(sub, "AWAITING REVIEW")
			if signedForm == "compact" {
				var err error
				if first, err = verify.Compact(first); err != nil {
					t.Fatal(err)
				}
			}
			now := time.Now()
			ts := strconv.FormatInt(now.Add(-time.Minute).Unix(), 10)
			capturedSig := verify.Sign(testSecret, ts, first)
			send := func(body []byte, xTimestamp time.Time) (int, string) {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set(prolific.HeaderRequestTimestamp, ts)
				req.Header.Set(prolific.HeaderSignature, capturedSig)
				req.Header.Set(prolific.HeaderEventID, delivery.NewID())
				req.Header.Set(prolific.HeaderTimestamp, strconv.FormatInt(xTimestamp.Unix(), 10))
				return do(t, req)
			}
			if code, resp := send(first, now.Add(-2*time.Minute)); code != http.StatusOK || !strings.Contains(resp, `"stored"`) {
				t.Fatalf("first delivery = %d %s, want 200 stored", code, resp)
			}
			// The genuine later status, with an X-Timestamp between the first
			// event's and its signed time.
			if code, resp := tr.post(t, testSecret, delivery.NewID(), now.Add(-90*time.Second), submissionBody(sub, "APPROVED")); code != http.StatusOK {
				t.Fatalf("second delivery = %d %s", code, resp)
			}
			for name, body := range reformatted(t, first) {
				code, resp := send(body, now.Add(-time.Minute))
				if code != http.StatusOK || !strings.Contains(resp, `"duplicate"`) {
					t.Errorf("replay (%s) = %d %s, want 200 duplicate", name, code, resp)
				}
			}
			events, err := tr.store.Events(context.Background(), store.EventFilter{ResourceID: sub, Limit: store.MaxLimit})
			if err != nil || len(events) != 2 {
				t.Errorf("store holds %d events about the submission (%v), want 2", len(events), err)
			}
			var s SubmissionJSON
			tr.getJSON(t, "/api/v1/submissions/"+sub, &s)
			if s.Status != "APPROVED" {
				t.Errorf("submission status = %q after the replays, want APPROVED", s.Status)
			}
		})
	}
}

// TestReformattedReplaysRespectAliasCap: replays through re-formatted bodies
// become aliases of the stored event and count towards Options.MaxAliases
// like any other replay; past the cap they are still duplicates, and their
// IDs are not recorded.
func TestReformattedReplaysRespectAliasCap(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "cap.db"), store.Options{MaxAliases: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tr := newTestReceiver(t, func(d *Deps) { d.Saver, d.Reader, d.Pinger = st, st, st })
	body := submissionBody(delivery.NewID(), "RETURNED")
	ts := unixNow()
	sig := verify.Sign(testSecret, ts, body)
	variants := [][]byte{body}
	for _, v := range reformatted(t, body) {
		variants = append(variants, v)
	}
	var ids []string
	for i := range 6 {
		id := delivery.NewID()
		ids = append(ids, id)
		req, _ := http.NewRequest(http.MethodPost, tr.public.URL+"/hooks/prolific", bytes.NewReader(variants[i%len(variants)]))
		req.Header.Set(prolific.HeaderRequestTimestamp, ts)
		req.Header.Set(prolific.HeaderSignature, sig)
		req.Header.Set(prolific.HeaderEventID, id)
		want := `"duplicate"`
		if i == 0 {
			want = `"stored"`
		}
		if code, resp := do(t, req); code != http.StatusOK || !strings.Contains(resp, want) {
			t.Fatalf("delivery %d = %d %s, want 200 %s", i, code, resp, want)
		}
	}
	ctx := context.Background()
	for i, id := range ids {
		e, err := st.Event(ctx, id)
		switch {
		case i <= 3 && (err != nil || e.ID != ids[0]):
			t.Errorf("Event(delivery %d) = %v, %v; want the stored event (itself or an alias)", i, e, err)
		case i > 3 && !errors.Is(err, store.ErrNotFound):
			t.Errorf("Event(delivery %d past the cap) error = %v, want ErrNotFound", i, err)
		}
	}
}
