package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/verify"
)

func TestSampleMatchesPythonDumps(t *testing.T) {
	// The documented submission.status.change body and the signature computed
	// with Python's json/hmac (webhooks.md §2.2).
	body := Sample(prolific.EventSubmissionStatusChange, "6650a1b2c3d4e5f601234567", "AWAITING REVIEW", "5f1e2d3c4b5a69788796a5b4")
	want := `{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "submission.status.change", "participant_id": "5f1e2d3c4b5a69788796a5b4", "status": "AWAITING REVIEW"}`
	if string(body) != want {
		t.Fatalf("Sample() = %s, want %s", body, want)
	}
	if got, want := verify.Sign("test-secret-not-real", "1735689600", body), "6xRrsWPPufbhR7iL/gaUNzSQqj3M/3+5g//67tFq9VM="; got != want {
		t.Fatalf("Sign() = %s, want %s", got, want)
	}
}

func TestBodyEscapesLikePython(t *testing.T) {
	tests := []struct{ in, want string }{
		{"café", `"caf\u00e9"`},
		{"😀", `"\ud83d\ude00"`},
		{"a\"b\\c", `"a\"b\\c"`},
		{"\n\r\t\b\f\x01", `"\n\r\t\b\f\u0001"`},
		{"</a>&\x7f", `"</a>&\u007f"`}, // json.dumps escapes DEL too
	}
	for _, tc := range tests {
		got := string(Body("x", "r", Field{"k", tc.in}))
		want := `{"resource_id": "r", "event_type": "x", "k": ` + tc.want + `}`
		if got != want {
			t.Errorf("Body(%q) = %s, want %s", tc.in, got, want)
		}
	}
}

func TestNewRequestVerifies(t *testing.T) {
	body := Sample(prolific.EventStudyStatusChange, NewID(), "ACTIVE", "")
	now := time.Unix(1735689600, 0)
	req, err := NewRequest(context.Background(), "http://127.0.0.1/hooks/prolific", "s3cret", body, Headers{EventID: "e1", EventTime: now.Add(-time.Second), SentAt: now})
	if err != nil {
		t.Fatal(err)
	}
	res, err := verify.Verify(req.Header.Get(prolific.HeaderSignature), req.Header.Get(prolific.HeaderRequestTimestamp), body, []string{"s3cret"}, now, verify.DefaultTolerance)
	if err != nil {
		t.Fatalf("Verify() error = %v", err)
	}
	if res.Form != verify.FormRaw {
		t.Errorf("form = %s, want raw", res.Form)
	}
	if got := req.Header.Get(prolific.HeaderTimestamp); got != "1735689599" {
		t.Errorf("X-Timestamp = %s, want 1735689599", got)
	}
	if id := NewID(); len(id) != 24 {
		t.Errorf("NewID() = %q, want 24 hex characters", id)
	}
}
