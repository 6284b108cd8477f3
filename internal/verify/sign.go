package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// Sign returns the value Prolific puts in X-Prolific-Request-Signature for a
// request whose X-Prolific-Request-Timestamp header is timestamp and whose body
// is body: base64(HMAC-SHA256(secret, timestamp + body)). Tests, the fake
// Prolific, `receiver send` and the load generator sign with it.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
