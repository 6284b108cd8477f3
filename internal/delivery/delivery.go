// Package delivery builds webhook requests exactly as Prolific sends them:
// a body in Python's json.dumps default style, signed, with the four
// delivery headers. `receiver send`, the load generator and tests use it.
package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"

	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// Field is one key of a webhook body, in order.
type Field struct{ Key, Value string }

// Body returns {"resource_id": ..., "event_type": ..., <fields>} in Python's
// json.dumps default style (", " and ": " separators, non-ASCII as \uXXXX).
// A field whose Value is "{}" is written as an empty object (metadata).
func Body(eventType, resourceID string, fields ...Field) []byte {
	compact := []byte(`{"resource_id":`)
	compact = appendJSONString(compact, resourceID)
	compact = append(compact, `,"event_type":`...)
	compact = appendJSONString(compact, eventType)
	for _, f := range fields {
		compact = append(compact, ',')
		compact = appendJSONString(compact, f.Key)
		compact = append(compact, ':')
		if f.Value == "{}" {
			compact = append(compact, "{}"...)
			continue
		}
		compact = appendJSONString(compact, f.Value)
	}
	compact = append(compact, '}')
	body, err := verify.PythonDumps(compact)
	if err != nil {
		panic("delivery: building a body: " + err.Error()) // unreachable: compact is valid JSON
	}
	return body
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // strings always marshal
	return append(dst, b...)
}

// Sample returns the body of a documented event type with plausible fields:
// status for status changes, participant_id for submissions, metadata for
// study status and high-return-rate events.
func Sample(eventType, resourceID, status, participantID string) []byte {
	switch eventType {
	case prolific.EventSubmissionStatusChange:
		return Body(eventType, resourceID, Field{"participant_id", participantID}, Field{"status", status})
	case prolific.EventStudyStatusChange:
		return Body(eventType, resourceID, Field{"metadata", "{}"}, Field{"status", status})
	case prolific.EventStudyHighReturnRate:
		return Body(eventType, resourceID, Field{"metadata", "{}"})
	default:
		return Body(eventType, resourceID)
	}
}

// Headers are the delivery headers of one attempt.
type Headers struct {
	EventID   string    // X-Event-ID; constant across retries
	EventTime time.Time // X-Timestamp; when the event happened
	SentAt    time.Time // X-Prolific-Request-Timestamp; when this attempt is signed
}

// NewRequest returns a signed POST of body to url.
func NewRequest(ctx context.Context, url, secret string, body []byte, h Headers) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	Sign(req.Header, secret, body, h)
	return req, nil
}

// Sign sets the four delivery headers and the content type on hdr.
func Sign(hdr http.Header, secret string, body []byte, h Headers) {
	ts := strconv.FormatInt(h.SentAt.Unix(), 10)
	hdr.Set("Content-Type", "application/json")
	hdr.Set(prolific.HeaderRequestTimestamp, ts)
	hdr.Set(prolific.HeaderSignature, verify.Sign(secret, ts, body))
	hdr.Set(prolific.HeaderEventID, h.EventID)
	hdr.Set(prolific.HeaderTimestamp, strconv.FormatInt(h.EventTime.Unix(), 10))
}

// NewID returns a random 24-hex-character ID shaped like Prolific's ObjectIds.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
