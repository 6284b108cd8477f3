package notifytest

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// mimeDecoder decodes the header words and single-part bodies a mail
// client writes, enough to read back plain-text messages.
type mimeDecoder struct{}

func (mimeDecoder) header(v string) string {
	out, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		return v
	}
	return out
}

func (mimeDecoder) body(encoding string, raw []byte) string {
	var r io.Reader
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(bytes.NewReader(raw))
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, newStripNewlines(raw))
	default:
		return strings.ReplaceAll(string(raw), "\r\n", "\n")
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return string(raw)
	}
	return strings.ReplaceAll(string(out), "\r\n", "\n")
}

func newStripNewlines(b []byte) io.Reader {
	return strings.NewReader(strings.NewReplacer("\r", "", "\n", "").Replace(string(b)))
}
