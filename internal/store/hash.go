package store

import (
	"crypto/sha256"
	"encoding/hex"
)

// ContentHash returns the hex SHA-256 of timestamp followed by body: the
// signed content of a delivery (X-Prolific-Request-Timestamp + raw body).
// Save uses it as a second idempotency key, so a replayed request with a new
// unsigned X-Event-ID is still a duplicate.
func ContentHash(timestamp string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(timestamp))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}
